/*
 * Optional C accelerator for wsocket.
 *
 * It exports two functions, each the twin of a pure-Python one that gives
 * the same results:
 *
 * - apply_mask(data, mask) -> bytes, for wsocket.utils.apply_mask. Every
 *   frame a client sends is masked (RFC 6455 section 5.3), so a server
 *   unmasks every byte it receives: this is the hottest loop of the library.
 * - scan_messages(...) -> int, for wsocket.frames.scan_messages: the receive
 *   path's common case, a run of whole single-frame messages, in one call
 *   (see the comment above it).
 *
 * Strategy for apply_mask:
 *
 * - The result is allocated with PyBytes_FromStringAndSize(NULL, n) and
 *   written in place, so the payload is copied exactly once.
 * - The output is written a byte at a time until it is aligned on the width
 *   of the wide loop (16 bytes with SSE2, 8 bytes otherwise); the mask is
 *   rotated by the length of that head so that the wide loop can XOR with a
 *   constant word. Loads from the input stay unaligned: a memoryview slice may
 *   start anywhere. The remaining tail is done a byte at a time.
 * - Large payloads are masked with the GIL released, so other threads keep
 *   running while a big message is processed. The input buffer stays
 *   exported during that time, which stops a bytearray from being resized.
 * - Non-contiguous buffers (for example memoryview(b)[::2]) are first
 *   gathered into the result with PyBuffer_ToContiguous, then masked in
 *   place, which gives the same answer as the pure-Python version.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#define WSOCKET_WIDTH 16
#else
#define WSOCKET_WIDTH 8
#endif

/* Above this many bytes the GIL is released while masking. Below it the cost
 * of dropping and taking back the lock outweighs the gain. */
#define WSOCKET_NOGIL_THRESHOLD (64 * 1024)

/*
 * XOR n bytes of src with the repeated 4-byte mask into dst.
 *
 * src and dst may be the same pointer (masking in place) but must not
 * otherwise overlap. Runs without touching any Python object, so it may be
 * called with the GIL released.
 */
static void
mask_bytes(const unsigned char *src, unsigned char *dst, Py_ssize_t n,
           const unsigned char mask[4])
{
    Py_ssize_t i = 0;
    Py_ssize_t head;
    unsigned char wide[WSOCKET_WIDTH];
    int j;

    /* Head: bytes up to the first aligned address of dst. */
    head = (Py_ssize_t)((WSOCKET_WIDTH - ((uintptr_t)dst % WSOCKET_WIDTH))
                        % WSOCKET_WIDTH);
    if (head > n) {
        head = n;
    }
    for (; i < head; i++) {
        dst[i] = src[i] ^ mask[i & 3];
    }

    /* The mask, repeated over a full word, starting at phase i. */
    for (j = 0; j < WSOCKET_WIDTH; j++) {
        wide[j] = mask[(i + j) & 3];
    }

#ifdef __SSE2__
    {
        __m128i m = _mm_loadu_si128((const __m128i *)wide);
        /* Two vectors per iteration keep the load and store units busy. */
        for (; i + 32 <= n; i += 32) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            _mm_store_si128((__m128i *)(dst + i), _mm_xor_si128(a, m));
            _mm_store_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, m));
        }
        for (; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_store_si128((__m128i *)(dst + i), _mm_xor_si128(a, m));
        }
    }
#else
    {
        uint64_t m, w;
        /* memcpy keeps the byte order of the mask whatever the endianness,
         * and compiles to plain (possibly unaligned) loads and stores. */
        memcpy(&m, wide, 8);
        for (; i + 8 <= n; i += 8) {
            memcpy(&w, src + i, 8);
            w ^= m;
            memcpy(dst + i, &w, 8);
        }
    }
#endif

    /* Tail: fewer than WSOCKET_WIDTH bytes left. */
    for (; i < n; i++) {
        dst[i] = src[i] ^ mask[i & 3];
    }
}

/* Run mask_bytes, without the GIL when the payload is large. */
static void
mask_bytes_maybe_nogil(const unsigned char *src, unsigned char *dst,
                       Py_ssize_t n, const unsigned char mask[4])
{
    if (n > WSOCKET_NOGIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        mask_bytes(src, dst, n, mask);
        Py_END_ALLOW_THREADS
    }
    else {
        mask_bytes(src, dst, n, mask);
    }
}

/*
 * Match the arguments of apply_mask(data, mask), which may be passed by
 * position or by keyword, as for the pure-Python version. Returns 0 on
 * success, -1 with an exception set otherwise. Borrowed references.
 */
static int
parse_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                PyObject **data, PyObject **mask)
{
    Py_ssize_t k, nkw;

    *data = NULL;
    *mask = NULL;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask() takes 2 positional arguments but %zd "
                     "were given",
                     nargs);
        return -1;
    }
    if (nargs >= 1) {
        *data = args[0];
    }
    if (nargs >= 2) {
        *mask = args[1];
    }
    nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        PyObject **slot;

        if (PyUnicode_CompareWithASCIIString(name, "data") == 0) {
            slot = data;
        }
        else if (PyUnicode_CompareWithASCIIString(name, "mask") == 0) {
            slot = mask;
        }
        else {
            PyErr_Format(PyExc_TypeError,
                         "apply_mask() got an unexpected keyword argument "
                         "'%U'",
                         name);
            return -1;
        }
        if (*slot != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "apply_mask() got multiple values for argument '%U'",
                         name);
            return -1;
        }
        *slot = args[nargs + k];
    }
    if (*data == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_mask() missing required argument 'data'");
        return -1;
    }
    if (*mask == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_mask() missing required argument 'mask'");
        return -1;
    }
    return 0;
}

/* Copy the 4 bytes of a mask given as any bytes-like object. */
static int
read_mask(PyObject *obj, unsigned char mask[4])
{
    Py_buffer view;
    int ok;

    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    ok = view.len == 4;
    if (ok) {
        memcpy(mask, view.buf, 4);
    }
    PyBuffer_Release(&view);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, mask)\n"
"--\n"
"\n"
"Mask or unmask data with a 4-byte mask (RFC 6455 section 5.3).\n"
"\n"
"data is any bytes-like object; mask is a bytes-like object of\n"
"exactly 4 bytes, else ValueError is raised. Returns new bytes.");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames)
{
    PyObject *data_obj, *mask_obj, *result;
    unsigned char mask[4];
    unsigned char *out;
    Py_buffer view;

    (void)module;

    if (parse_arguments(args, nargs, kwnames, &data_obj, &mask_obj) < 0) {
        return NULL;
    }
    /* The mask is checked first, as in the pure-Python version. */
    if (read_mask(mask_obj, mask) < 0) {
        return NULL;
    }
    /* PyBUF_FULL_RO accepts every exporter: strided and indirect buffers
     * are handled below by gathering them first. */
    if (PyObject_GetBuffer(data_obj, &view, PyBUF_FULL_RO) < 0) {
        return NULL;
    }
    if (view.len == 0) {
        PyBuffer_Release(&view);
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    result = PyBytes_FromStringAndSize(NULL, view.len);
    if (result == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    out = (unsigned char *)PyBytes_AS_STRING(result);

    if (PyBuffer_IsContiguous(&view, 'C')) {
        mask_bytes_maybe_nogil((const unsigned char *)view.buf, out, view.len,
                               mask);
    }
    else {
        if (PyBuffer_ToContiguous(out, &view, view.len, 'C') < 0) {
            PyBuffer_Release(&view);
            Py_DECREF(result);
            return NULL;
        }
        mask_bytes_maybe_nogil(out, out, view.len, mask);
    }
    PyBuffer_Release(&view);
    return result;
}

/*
 * scan_messages: the common case of the receive path in one call.
 *
 * Most reads hold one or more whole messages of one frame each: FIN set, no
 * RSV bit, opcode text or binary. For each such frame at the start of the
 * buffer this reads the header, unmasks the payload, checks text is UTF-8
 * and appends the event, without going through the interpreter per frame.
 *
 * It stops, without an error, at the first frame that is anything else:
 * incomplete, a control frame, a fragment, compressed, over the size limit,
 * masked when it must not be (or the reverse), or text that is not valid
 * UTF-8. The caller handles that frame through wsocket.frames.parse_header
 * and the protocol's general path, which applies every rule and raises the
 * error with its close code and reason. So error reporting has one
 * implementation, and this function only has to agree with it on which
 * frames are plain: tests and fuzz/fuzz_scan.py compare it with the
 * pure-Python twin.
 */

/* Payloads up to this size are unmasked on the stack before decoding. */
#define WSOCKET_STACK_TEXT 512

/*
 * Decode a text payload (unmasking it first when key is not NULL). Returns
 * a new str, or NULL: with an exception set on a real failure, without one
 * when the payload is not UTF-8 (the caller then stops scanning).
 */
static PyObject *
decode_text(const unsigned char *src, Py_ssize_t n, const unsigned char *key)
{
    unsigned char stack[WSOCKET_STACK_TEXT];
    unsigned char *tmp = stack;
    PyObject *text;

    if (key != NULL) {
        if (n > WSOCKET_STACK_TEXT) {
            tmp = (unsigned char *)PyMem_Malloc((size_t)n);
            if (tmp == NULL) {
                PyErr_NoMemory();
                return NULL;
            }
        }
        mask_bytes_maybe_nogil(src, tmp, n, key);
        src = tmp;
    }
    text = PyUnicode_DecodeUTF8((const char *)src, n, "strict");
    if (tmp != stack) {
        PyMem_Free(tmp);
    }
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
    }
    return text;
}

PyDoc_STRVAR(scan_messages_doc,
"scan_messages($module, data, pos, mask, max_size, events, text_message,\n"
"              binary_message, /)\n"
"--\n"
"\n"
"Turn the whole single-frame messages at data[pos:] into events.\n"
"\n"
"C twin of wsocket.frames.python_scan_messages, which documents the\n"
"arguments.\n"
"Returns the offset of the first frame not handled.");

static PyObject *
scan_messages(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const unsigned char *buf;
    Py_ssize_t pos, end;
    long long max_size = -1;
    int has_limit, mask_required;
    PyObject *events, *text_cls, *binary_cls;

    (void)module;

    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError,
                     "scan_messages() takes 7 positional arguments but %zd "
                     "were given",
                     nargs);
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    mask_required = PyObject_IsTrue(args[2]);
    if (mask_required < 0) {
        return NULL;
    }
    has_limit = args[3] != Py_None;
    if (has_limit) {
        int overflow;
        max_size = PyLong_AsLongLongAndOverflow(args[3], &overflow);
        if (max_size == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow > 0) {
            /* Above any length a frame can carry (< 2**63). */
            has_limit = 0;
        }
        else if (overflow < 0) {
            max_size = -1;
        }
    }
    events = args[4];
    if (!PyList_Check(events)) {
        PyErr_SetString(PyExc_TypeError, "scan_messages() needs a list of events");
        return NULL;
    }
    text_cls = args[5];
    binary_cls = args[6];

    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    buf = (const unsigned char *)view.buf;
    end = view.len;
    if (pos < 0 || pos > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos is outside the buffer");
        return NULL;
    }

    while (end - pos >= 2) {
        const unsigned char *p = buf + pos;
        const unsigned char *key = NULL;
        unsigned int b0 = p[0], b1 = p[1];
        unsigned long long length;
        Py_ssize_t start, n;
        PyObject *payload, *event;
        int rc;

        /* FIN, no RSV bit, text or binary: a whole uncompressed message. */
        if (b0 != 0x81 && b0 != 0x82) {
            break;
        }
        if (((b1 & 0x80) != 0) != (mask_required != 0)) {
            break;
        }
        length = b1 & 0x7F;
        start = pos + 2;
        if (length == 126) {
            start = pos + 4;
            if (end < start) {
                break;
            }
            length = ((unsigned long long)p[2] << 8) | p[3];
        }
        else if (length == 127) {
            int i;
            start = pos + 10;
            if (end < start) {
                break;
            }
            length = 0;
            for (i = 2; i < 10; i++) {
                length = (length << 8) | p[i];
            }
            if (length >> 63) {
                break;
            }
        }
        if (mask_required) {
            if (end - start < 4) {
                break;
            }
            key = buf + start;
            start += 4;
        }
        if (has_limit && (long long)length > max_size) {
            break;
        }
        if (length > (unsigned long long)(end - start)) {
            break;
        }
        n = (Py_ssize_t)length;

        if (b0 == 0x81) {
            payload = decode_text(buf + start, n, key);
            if (payload == NULL) {
                if (PyErr_Occurred()) {
                    goto error;
                }
                break; /* not UTF-8: the general path reports it */
            }
            event = PyObject_CallOneArg(text_cls, payload);
        }
        else {
            payload = PyBytes_FromStringAndSize(
                key != NULL ? NULL : (const char *)(buf + start), n);
            if (payload == NULL) {
                goto error;
            }
            if (key != NULL) {
                mask_bytes_maybe_nogil(
                    buf + start, (unsigned char *)PyBytes_AS_STRING(payload),
                    n, key);
            }
            event = PyObject_CallOneArg(binary_cls, payload);
        }
        Py_DECREF(payload);
        if (event == NULL) {
            goto error;
        }
        rc = PyList_Append(events, event);
        Py_DECREF(event);
        if (rc < 0) {
            goto error;
        }
        pos = start + n;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos);

error:
    PyBuffer_Release(&view);
    return NULL;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask,
     METH_FASTCALL | METH_KEYWORDS, apply_mask_doc},
    {"scan_messages", (PyCFunction)(void (*)(void))scan_messages,
     METH_FASTCALL, scan_messages_doc},
    {NULL, NULL, 0, NULL},
};

/* The module holds no state, so it is safe in subinterpreters with their own
 * GIL and in free-threaded builds. */
static PyModuleDef_Slot speedups_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

PyDoc_STRVAR(speedups_doc,
"C implementations of wsocket.utils.apply_mask and\n"
"wsocket.frames.scan_messages.\n"
"\n"
"Import them through wsocket.frames, which falls back to the pure-Python\n"
"versions when this module was not built.");

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wsocket._speedups",
    .m_doc = speedups_doc,
    .m_size = 0,
    .m_methods = speedups_methods,
    .m_slots = speedups_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
