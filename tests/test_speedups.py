"""Tests for the optional C extension wsocket._speedups.

The C ``apply_mask`` must return exactly the bytes of the pure-Python
``wsocket.utils.apply_mask``, for every length, alignment and input type.
The C ``scan_messages`` must give exactly the events and the offset of the
pure-Python ``wsocket.frames.python_scan_messages``, for any input.

When the extension was not built these tests are skipped locally, but they
fail under CI (``CI`` set in the environment): CI installs with
``WSOCKET_BUILD_EXTENSION=1``, so a missing extension there is a bug.
"""

from __future__ import annotations

import importlib
import inspect
import os
import random
import subprocess
import sys
import threading
from array import array
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsocket import frames as frames_module
from wsocket import protocol as protocol_module
from wsocket import utils
from wsocket.protocol import BinaryMessage, Protocol, TextMessage

ApplyMask = Callable[..., bytes]

ROOT = Path(__file__).resolve().parent.parent

MASK = b"\x37\xfa\x21\x3d"


def _load_speedups() -> Optional[ModuleType]:
    try:
        return importlib.import_module("wsocket._speedups")
    except ImportError:
        return None


speedups = _load_speedups()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def c_apply_mask() -> ApplyMask:
    """The C ``apply_mask``; skipped if it is not built, except under CI."""
    if speedups is None:
        if _in_ci():
            pytest.fail(
                "wsocket._speedups is not built: CI must install with "
                "WSOCKET_BUILD_EXTENSION=1 so that the C masking is tested"
            )
        pytest.skip(
            "wsocket._speedups is not built "
            "(build it with: python setup.py build_ext --inplace)"
        )
    func: ApplyMask = speedups.apply_mask
    return func


@pytest.fixture(params=["python", "c"])
def any_apply_mask(request: pytest.FixtureRequest) -> ApplyMask:
    """Each implementation in turn, for tests of the shared contract."""
    if request.param == "python":
        return utils.apply_mask
    func: ApplyMask = request.getfixturevalue("c_apply_mask")
    return func


def _reference_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(octet ^ mask[i % 4] for i, octet in enumerate(data))


# -- The shared contract, run against both implementations -------------------


def test_rfc_6455_example(any_apply_mask: ApplyMask) -> None:
    # Section 5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
    assert any_apply_mask(b"Hello", MASK) == b"\x7f\x9f\x4d\x51\x58"
    assert any_apply_mask(b"\x7f\x9f\x4d\x51\x58", MASK) == b"Hello"


def test_empty_data(any_apply_mask: ApplyMask) -> None:
    for data in (b"", bytearray(), memoryview(b"")):
        result = any_apply_mask(data, MASK)
        assert type(result) is bytes
        assert result == b""


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("mask_type", [bytes, bytearray])
def test_bad_mask_length(
    any_apply_mask: ApplyMask, size: int, mask_type: Callable[[bytes], Any]
) -> None:
    for data in (b"Hello", b""):
        with pytest.raises(ValueError, match="^mask must contain 4 bytes$"):
            any_apply_mask(data, mask_type(bytes(size)))


@pytest.mark.parametrize("data", [None, 42, "text", object()])
def test_data_not_bytes_like(any_apply_mask: ApplyMask, data: object) -> None:
    with pytest.raises(TypeError):
        any_apply_mask(data, MASK)


def test_mask_not_bytes_like(any_apply_mask: ApplyMask) -> None:
    with pytest.raises(TypeError):
        any_apply_mask(b"Hello", None)


def test_keyword_arguments(any_apply_mask: ApplyMask) -> None:
    expected = b"\x7f\x9f\x4d\x51\x58"
    assert any_apply_mask(data=b"Hello", mask=MASK) == expected
    assert any_apply_mask(mask=MASK, data=b"Hello") == expected
    assert any_apply_mask(b"Hello", mask=MASK) == expected


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((), {}),
        ((b"Hello",), {}),
        ((b"Hello", MASK, MASK), {}),
        ((b"Hello",), {"data": b"Hello"}),
        ((b"Hello", MASK), {"mask": MASK}),
        ((b"Hello", MASK), {"other": 1}),
        ((), {"mask": MASK}),
    ],
)
def test_bad_call(
    any_apply_mask: ApplyMask, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        any_apply_mask(*args, **kwargs)


def test_result_is_new_bytes(any_apply_mask: ApplyMask) -> None:
    data = bytearray(b"payload!")
    result = any_apply_mask(data, MASK)
    assert type(result) is bytes
    # The input is left untouched.
    assert data == b"payload!"


# -- C against Python, byte for byte -----------------------------------------

# One random buffer, sliced at every offset: memoryview slices make the C
# loop start at every alignment relative to its 8- or 16-byte words.
_RNG = random.Random(6455)
_MAX_LENGTH = 4096
_POOL = _RNG.randbytes(_MAX_LENGTH + 32)


def test_every_length_and_alignment(c_apply_mask: ApplyMask) -> None:
    rng = random.Random(1)
    pool = memoryview(_POOL)
    for offset in range(16):
        for length in range(_MAX_LENGTH + 1):
            mask = rng.randbytes(4)
            data = pool[offset : offset + length]
            expected = utils.apply_mask(data, mask)
            result = c_apply_mask(data, mask)
            if result != expected:  # pragma: no cover - reported below
                pytest.fail(f"mismatch at offset {offset}, length {length}")


@pytest.mark.parametrize(
    "convert",
    [bytes, bytearray, lambda b: array("B", b)],
    ids=["bytes", "bytearray", "array"],
)
def test_every_length_input_types(
    c_apply_mask: ApplyMask, convert: Callable[[bytes], Any]
) -> None:
    rng = random.Random(2)
    for length in range(_MAX_LENGTH + 1):
        mask = rng.randbytes(4)
        data = convert(_POOL[:length])
        expected = utils.apply_mask(data, mask)
        result = c_apply_mask(data, mask)
        if result != expected:  # pragma: no cover - reported below
            pytest.fail(f"mismatch at length {length}")


@pytest.mark.parametrize("length", [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 100])
def test_matches_reference(c_apply_mask: ApplyMask, length: int) -> None:
    for offset in range(16):
        data = _POOL[offset : offset + length]
        assert c_apply_mask(memoryview(_POOL)[offset:][:length], MASK) == (
            _reference_mask(data, MASK)
        )


@pytest.mark.parametrize("step", [2, 3, -1, -5])
def test_non_contiguous_memoryview(c_apply_mask: ApplyMask, step: int) -> None:
    # Strided views are gathered before masking; the pure-Python version
    # copies them too, so both agree.
    view = memoryview(_POOL[:1000])[::step]
    assert not view.c_contiguous
    expected = utils.apply_mask(view, MASK)
    assert c_apply_mask(view, MASK) == expected
    assert expected == _reference_mask(view.tobytes(), MASK)


def test_large_input(c_apply_mask: ApplyMask) -> None:
    # Above 64 KiB the C loop runs with the GIL released.
    rng = random.Random(3)
    data = rng.randbytes(5 * 1024 * 1024 + 3)
    for mask in (MASK, rng.randbytes(4)):
        expected = utils.apply_mask(data, mask)
        result = c_apply_mask(data, mask)
        assert result == expected
        assert c_apply_mask(result, mask) == data
    view = memoryview(data)[5:]
    assert c_apply_mask(view, MASK) == utils.apply_mask(view, MASK)
    bigger_strided = memoryview(data)[::2]
    assert c_apply_mask(bigger_strided, MASK) == utils.apply_mask(bigger_strided, MASK)


def test_large_input_from_threads(c_apply_mask: ApplyMask) -> None:
    # Several threads mask big payloads at once, each with its own mask.
    rng = random.Random(4)
    data = rng.randbytes(2 * 1024 * 1024 + 1)
    masks = [rng.randbytes(4) for _ in range(4)]
    results: dict[int, bytes] = {}

    def work(index: int) -> None:
        out = b""
        for _ in range(3):
            out = c_apply_mask(data, masks[index])
        results[index] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(masks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, mask in enumerate(masks):
        assert results[index] == utils.apply_mask(data, mask)


# The fixture returns the same stateless function every time, so sharing it
# between generated examples is safe.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=600),
    mask=st.binary(min_size=4, max_size=4),
    offset=st.integers(0, 15),
)
def test_property(
    c_apply_mask: ApplyMask, data: bytes, mask: bytes, offset: int
) -> None:
    view = memoryview(bytes(offset) + data)[offset:]
    assert c_apply_mask(view, mask) == utils.apply_mask(data, mask)


# -- C-only behaviour -----------------------------------------------------------


def test_any_bytes_like_mask(c_apply_mask: ApplyMask) -> None:
    expected = b"\x7f\x9f\x4d\x51\x58"
    assert c_apply_mask(b"Hello", memoryview(MASK)) == expected
    assert c_apply_mask(b"Hello", array("B", MASK)) == expected


def test_buffers_are_released(c_apply_mask: ApplyMask) -> None:
    # A bytearray cannot be resized while a buffer on it is exported, so a
    # leaked export would make these appends fail.
    data = bytearray(b"x" * 100_000)
    c_apply_mask(data, MASK)
    data.append(0)
    mask = bytearray(b"abc")
    with pytest.raises(ValueError):
        c_apply_mask(data, mask)
    mask.append(0)
    data.append(0)
    good_mask = bytearray(MASK)
    with pytest.raises(TypeError):
        c_apply_mask(None, good_mask)
    good_mask.append(0)
    strided = bytearray(b"y" * 100)
    c_apply_mask(memoryview(strided)[::2], MASK)
    strided.append(0)


def test_signature_matches_python(c_apply_mask: ApplyMask) -> None:
    c_params = list(inspect.signature(c_apply_mask).parameters)
    py_params = list(inspect.signature(utils.apply_mask).parameters)
    assert c_params == py_params == ["data", "mask"]


# -- Selection in wsocket.frames ---------------------------------------------


def test_frames_uses_speedups(c_apply_mask: ApplyMask) -> None:
    frames = importlib.import_module("wsocket.frames")
    assert frames.apply_mask is c_apply_mask


_BLOCK_WITH_NONE = """
import sys
sys.modules["wsocket._speedups"] = None
"""

_BLOCK_WITH_FINDER = """
import sys

class BlockSpeedups:
    def find_spec(self, name, path=None, target=None):
        if name == "wsocket._speedups":
            raise ImportError("blocked for this test")
        return None

sys.meta_path.insert(0, BlockSpeedups())
"""

_CHECK_FALLBACK = """
import wsocket.frames
import wsocket.protocol
import wsocket.utils
assert "wsocket._speedups" not in sys.modules or sys.modules[
    "wsocket._speedups"
] is None, "the extension was imported"
assert wsocket.frames.apply_mask is wsocket.utils.apply_mask, (
    wsocket.frames.apply_mask
)
python_scan = wsocket.frames.python_scan_messages
assert wsocket.frames.scan_messages is python_scan, wsocket.frames.scan_messages
assert wsocket.protocol.scan_messages is python_scan
print("fallback in use")
"""


@pytest.mark.parametrize(
    "blocker", [_BLOCK_WITH_NONE, _BLOCK_WITH_FINDER], ids=["modules", "finder"]
)
def test_fallback_without_extension(blocker: str) -> None:
    # A fresh interpreter, so that the extension was never imported there.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    completed = subprocess.run(
        [sys.executable, "-c", blocker + _CHECK_FALLBACK],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "fallback in use"


# -- scan_messages: the receive path's common case ---------------------------

Scan = Callable[..., int]


@pytest.fixture
def c_scan() -> Scan:
    """The C ``scan_messages``; skipped if it is not built, except under CI."""
    if speedups is None:
        if _in_ci():
            pytest.fail("wsocket._speedups is not built: CI must build it")
        pytest.skip("wsocket._speedups is not built")
    func: Scan = speedups.scan_messages
    return func


@pytest.fixture(params=["python", "c"])
def any_scan(request: pytest.FixtureRequest) -> Scan:
    """Each implementation in turn, for tests of the shared contract."""
    if request.param == "python":
        return frames_module.python_scan_messages
    func: Scan = request.getfixturevalue("c_scan")
    return func


def frame(
    b0: int,
    payload: bytes,
    *,
    key: Optional[bytes] = MASK,
    length_form: Optional[int] = None,
) -> bytes:
    """A frame with first byte ``b0``; ``length_form`` forces 7, 16 or 64 bits."""
    n = len(payload)
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    mbit = 0x80 if key is not None else 0
    if form == 7:
        head = bytes((b0, mbit | n))
    elif form == 16:
        head = bytes((b0, mbit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, mbit | 127)) + n.to_bytes(8, "big")
    if key is None:
        return head + payload
    return head + key + utils.apply_mask(payload, key)


def scan(
    func: Scan,
    data: Any,
    pos: int = 0,
    *,
    mask: bool = True,
    max_size: Optional[int] = 2**20,
) -> tuple[list[Any], int]:
    events: list[Any] = []
    end = func(data, pos, mask, max_size, events, TextMessage, BinaryMessage)
    return events, end


TEXT = "wsocket ü € 😀"
PLAIN = frame(0x81, TEXT.encode())


def test_scan_whole_messages(any_scan: Scan) -> None:
    stream = PLAIN + frame(0x82, b"\x00\xff") + frame(0x81, b"") + frame(0x82, b"")
    events, end = scan(any_scan, stream)
    assert events == [
        TextMessage(TEXT),
        BinaryMessage(b"\x00\xff"),
        TextMessage(""),
        BinaryMessage(b""),
    ]
    assert end == len(stream)
    assert type(events[1].data) is bytes


def test_scan_unmasked_frames_for_a_client(any_scan: Scan) -> None:
    stream = frame(0x81, b"hi", key=None) + frame(0x82, b"\x01", key=None)
    events, end = scan(any_scan, stream, mask=False)
    assert events == [TextMessage("hi"), BinaryMessage(b"\x01")]
    assert end == len(stream)


@pytest.mark.parametrize("data_type", [bytes, bytearray, memoryview])
def test_scan_any_buffer_from_any_offset(any_scan: Scan, data_type: Any) -> None:
    stream = b"junk" + PLAIN + PLAIN
    events, end = scan(any_scan, data_type(stream), 4)
    assert events == [TextMessage(TEXT)] * 2
    assert end == len(stream)


# Frames the scanner must leave to the general path, each with the reason.
STOPS = [
    ("ping", frame(0x89, b"p")),
    ("pong", frame(0x8A, b"p")),
    ("close", frame(0x88, b"\x03\xe8")),
    ("first fragment", frame(0x01, b"a")),
    ("continuation", frame(0x80, b"a")),
    ("compressed", frame(0xC1, b"a")),
    ("rsv2", frame(0xA2, b"a")),
    ("rsv3", frame(0x92, b"a")),
    ("reserved opcode", frame(0x83, b"a")),
    ("invalid UTF-8", frame(0x81, b"\xff")),
    ("surrogate", frame(0x81, b"\xed\xa0\x80")),
    ("cut code point", frame(0x81, "é".encode()[:1])),
    ("unmasked", frame(0x81, b"a", key=None)),
    ("over the limit", frame(0x82, b"x" * 101)),
    ("length MSB set", bytes((0x82, 0xFF)) + b"\x80" + b"\x00" * 7 + MASK),
]

# Frames cut short at the end of the buffer.
CUTS = [
    ("one byte", b"\x81"),
    ("cut 16-bit length", bytes((0x82, 0xFE, 0x00))),
    ("cut 64-bit length", bytes((0x82, 0xFF)) + b"\x00" * 7),
    ("cut key", bytes((0x82, 0x81)) + MASK[:3]),
    ("cut payload", frame(0x82, b"abc")[:-1]),
    ("cut 16-bit payload", frame(0x82, b"x" * 126)[:-1]),
]


@pytest.mark.parametrize("stop", [s[1] for s in STOPS], ids=[s[0] for s in STOPS])
def test_scan_stops_at_any_other_frame(any_scan: Scan, stop: bytes) -> None:
    events, end = scan(any_scan, PLAIN + stop + PLAIN, max_size=100)
    assert events == [TextMessage(TEXT)]
    assert end == len(PLAIN)


@pytest.mark.parametrize("cut", [c[1] for c in CUTS], ids=[c[0] for c in CUTS])
def test_scan_stops_at_a_cut_frame(any_scan: Scan, cut: bytes) -> None:
    events, end = scan(any_scan, PLAIN + cut)
    assert events == [TextMessage(TEXT)]
    assert end == len(PLAIN)


def test_scan_masked_frame_on_a_client_stops(any_scan: Scan) -> None:
    events, end = scan(any_scan, frame(0x82, b"a"), mask=False)
    assert (events, end) == ([], 0)


@pytest.mark.parametrize("form", [7, 16, 64])
def test_scan_accepts_every_length_encoding(any_scan: Scan, form: int) -> None:
    # RFC 6455 asks for the minimal encoding, but parse_header accepts the
    # longer ones; the scanner agrees with it.
    stream = frame(0x82, b"abc", length_form=form)
    assert scan(any_scan, stream) == ([BinaryMessage(b"abc")], len(stream))


@pytest.mark.parametrize("size", [125, 126, 511, 512, 513, 65535, 65536, 70000])
@pytest.mark.parametrize("b0", [0x81, 0x82])
def test_scan_length_boundaries(any_scan: Scan, size: int, b0: int) -> None:
    # 125/126 and 65535/65536 change the header; 512 is the C stack buffer
    # for text; above 64 KiB the C masking releases the GIL.
    payload = ("ab\u00e9" * (size // 4) + "a" * (size % 4)).encode()
    assert len(payload) == size  # exactly: valid UTF-8 with 2-byte characters
    stream = frame(b0, payload)
    expected = TextMessage(payload.decode()) if b0 == 0x81 else BinaryMessage(payload)
    assert scan(any_scan, stream) == ([expected], len(stream))


@pytest.mark.parametrize(
    ("max_size", "handled"),
    [(None, True), (2**70, True), (3, True), (2, False), (0, False), (-1, False)],
)
def test_scan_size_limit(
    any_scan: Scan, max_size: Optional[int], handled: bool
) -> None:
    stream = frame(0x82, b"abc")
    events, end = scan(any_scan, stream, max_size=max_size)
    assert end == (len(stream) if handled else 0)
    assert events == ([BinaryMessage(b"abc")] if handled else [])


def test_scan_empty_message_at_limit_zero(any_scan: Scan) -> None:
    stream = frame(0x81, b"")
    assert scan(any_scan, stream, max_size=0) == ([TextMessage("")], len(stream))


@pytest.mark.parametrize("pos", [-1, len(PLAIN) + 1])
def test_scan_pos_outside_the_buffer(any_scan: Scan, pos: int) -> None:
    with pytest.raises(ValueError, match="outside the buffer"):
        scan(any_scan, PLAIN, pos)


def test_scan_pos_at_the_end(any_scan: Scan) -> None:
    assert scan(any_scan, PLAIN, len(PLAIN)) == ([], len(PLAIN))


def test_scan_event_error_propagates_and_releases_the_buffer(any_scan: Scan) -> None:
    buf = bytearray(PLAIN * 2)

    def broken(data: str) -> None:
        raise RuntimeError("no events today")

    events: list[Any] = []
    with pytest.raises(RuntimeError, match="no events today"):
        any_scan(buf, 0, True, None, events, broken, BinaryMessage)
    assert events == []
    buf += b"x"  # would raise BufferError if the buffer were still exported
    events, end = scan(any_scan, buf)
    assert end == 2 * len(PLAIN)


def test_scan_c_rejects_bad_calls(c_scan: Scan) -> None:
    with pytest.raises(TypeError, match="7 positional arguments"):
        c_scan(PLAIN, 0)
    with pytest.raises(TypeError, match="list of events"):
        c_scan(PLAIN, 0, True, None, (), TextMessage, BinaryMessage)
    with pytest.raises(TypeError):
        c_scan("text", 0, True, None, [], TextMessage, BinaryMessage)


def test_scan_signature_matches_python(c_scan: Scan) -> None:
    python = inspect.signature(frames_module.python_scan_messages).parameters
    compiled = inspect.signature(c_scan).parameters
    assert list(compiled) == list(python)


@st.composite
def frame_streams(draw: st.DrawFn) -> bytes:
    """Mostly plain messages, with the odd frame the scanner must stop at."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        b0 = draw(st.sampled_from([0x81, 0x82, 0x81, 0x82, 0x01, 0x89, 0xC1, 0x83]))
        if draw(st.booleans()):
            payload = draw(st.text(max_size=40)).encode()
        else:
            payload = draw(st.binary(max_size=300))
        key = draw(st.sampled_from([MASK, None, b"\x00\x00\x00\x00"]))
        parts.append(frame(b0, payload, key=key))
    stream = b"".join(parts)
    return stream[: draw(st.integers(0, len(stream)))]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stream=st.one_of(frame_streams(), st.binary(max_size=200)),
    mask=st.booleans(),
    max_size=st.sampled_from([None, 0, 10, 200, 2**20]),
)
def test_scan_c_equals_python(
    c_scan: Scan, stream: bytes, mask: bool, max_size: Optional[int]
) -> None:
    python = scan(
        frames_module.python_scan_messages, stream, mask=mask, max_size=max_size
    )
    compiled = scan(c_scan, stream, mask=mask, max_size=max_size)
    assert compiled == python
    assert [type(e.data) for e in compiled[0]] == [type(e.data) for e in python[0]]


def test_frames_uses_the_c_scanner(c_scan: Scan) -> None:
    assert frames_module.scan_messages is c_scan
    assert protocol_module.scan_messages is c_scan


def test_protocol_hands_plain_messages_to_the_scanner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whole single-frame messages must go through scan_messages, in one call
    # per read, and a ping in between must not stop the ones after it.
    calls: list[tuple[int, int]] = []
    real = frames_module.scan_messages

    def spy(data: Any, pos: int, *args: Any) -> int:
        end = real(data, pos, *args)
        calls.append((pos, end))
        return end

    monkeypatch.setattr(protocol_module, "scan_messages", spy)
    protocol = Protocol(protocol_module.SERVER)
    ping = frame(0x89, b"p")
    protocol.receive_data(PLAIN + PLAIN + ping + PLAIN)
    assert calls == [
        (0, 2 * len(PLAIN)),
        (2 * len(PLAIN) + len(ping), 3 * len(PLAIN) + len(ping)),
    ]
    assert len(protocol.events_received()) == 4
