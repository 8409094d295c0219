"""The permessage-deflate extension (RFC 7692): negotiation and compression.

This module is sans-I/O: it turns handshake parameters into a
:class:`PerMessageDeflate` object and message payloads into compressed bytes
and back. It never touches a socket; the handshake and protocol modules call
it.

Theory of operation
-------------------

Negotiation (`RFC 7692 section 7.1`_). A client sends :func:`client_offer`
in its ``Sec-WebSocket-Extensions`` header. The server passes every
permessage-deflate offer it received to :func:`server_negotiate`, which
accepts the first valid one, silently declining the others as section 7.1
requires, and returns the parameters of its response. The client checks the
response with :func:`client_accept`, which raises :class:`NegotiationError`
on anything RFC 7692 forbids. All three take a :class:`DeflateOptions`, the
same object on both sides: the "server_*" fields always describe what the
server compresses, the "client_*" fields what the client compresses.

Compression (`RFC 7692 section 7.2`_). Each endpoint owns one raw DEFLATE
compressor for what it sends and one decompressor for what it receives.
"Context takeover" means that a stream lives across messages, so a message
may refer to bytes of the previous ones. ``*_no_context_takeover`` forbids
that: the stream is thrown away after each message. This module then drops
the zlib object at once and builds a new one for the next message, so an
idle connection holds no zlib memory on that side.

Windows of 256 bytes (``max_window_bits=8``). zlib cannot compress with an
8-bit window: ``zlib.compressobj(wbits=-8)`` raises ``ValueError``, and the
zlib manual says windowBits 8 is not supported by deflate. Compressing with
9 bits instead is not a safe substitute: DEFLATE then allows references up
to 512 bytes back, which a peer holding 256 bytes cannot resolve (zlib
happens to stay within 250 bytes, but does not document it). When our side
must compress with at most 8 bits, we therefore use a 9-bit stream with the
``Z_RLE`` strategy, which zlib documents as "limit match distances to one".
Every back reference then reaches exactly one byte back, which any window
can resolve. Compression of such messages is weaker (runs of repeated bytes
only), but it is correct and no offer needs to be declined for it.
Decompressing with an 8-bit window is supported by zlib and needs no
workaround.

Decompression bombs. :meth:`PerMessageDeflate.inflate` asks zlib for at
most one byte more than the message may still grow, so a small payload that
inflates to gigabytes is refused with :class:`PayloadTooBig` after producing
no more than that limit. It hands out the output in pieces of 32 KiB and
feeds zlib 16 KiB of input at a time, so that nothing is copied whole: the
protocol keeps each piece once, and a refused bomb costs the limit plus a
few tens of KiB.

.. _RFC 7692 section 7.1: https://www.rfc-editor.org/rfc/rfc7692#section-7.1
.. _RFC 7692 section 7.2: https://www.rfc-editor.org/rfc/rfc7692#section-7.2
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .exceptions import NegotiationError, PayloadTooBig, ProtocolError

__all__ = [
    "DeflateOptions",
    "Params",
    "PerMessageDeflate",
    "client_offer",
    "client_accept",
    "server_negotiate",
]

#: The parameters of one extension offer or response, in header order. Each
#: value is ``None`` for a parameter without ``=value``, else the (unquoted)
#: string after ``=``.
Params = List[Tuple[str, Optional[str]]]

# RFC 7692 section 7.2.1: a flushed DEFLATE stream ends with an empty
# non-compressed block, whose last 4 octets are removed before sending and
# added back before inflating (section 7.2.2).
#: Largest output asked of zlib per call while inflating (see inflate()).
_INFLATE_STEP = 2**15
#: Largest input given to zlib per call while inflating.
_INFLATE_INPUT = 2**14
_EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"

# RFC 7692 section 7.2.3.6: the whole payload of an empty compressed message
# is a single octet holding the header of an empty non-compressed block.
_EMPTY_MESSAGE = b"\x00"

# RFC 7692 section 7.1.2.1: "a decimal integer value without leading zeroes
# between 8 to 15, inclusive". Mapping the exact strings rejects leading
# zeroes, signs, spaces and anything else in one lookup.
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"
_PARAMETERS = (
    _SERVER_NO_CONTEXT_TAKEOVER,
    _CLIENT_NO_CONTEXT_TAKEOVER,
    _SERVER_MAX_WINDOW_BITS,
    _CLIENT_MAX_WINDOW_BITS,
)


def _check_int(name: str, value: object, low: int, high: int, hint: str) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"{name} must be an int from {low} to {high}, got {value!r}; {hint}"
        )
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}, got {value}; {hint}")


def _check_settings(
    server_no_context_takeover: object,
    client_no_context_takeover: object,
    server_max_window_bits: object,
    client_max_window_bits: object,
    compress_level: object,
    mem_level: object,
    min_size: object,
) -> None:
    """Validate the settings shared by :class:`DeflateOptions` and
    :class:`PerMessageDeflate`; ``None`` window bits are allowed here.

    Raises:
        ValueError: if a setting has the wrong type or is out of range.
    """
    for name, flag in (
        ("server_no_context_takeover", server_no_context_takeover),
        ("client_no_context_takeover", client_no_context_takeover),
    ):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    for name, bits in (
        ("server_max_window_bits", server_max_window_bits),
        ("client_max_window_bits", client_max_window_bits),
    ):
        if bits is not None:
            _check_int(
                name,
                bits,
                8,
                15,
                "RFC 7692 allows windows of 2**8 to 2**15 bytes; use 15 for "
                "the best compression or None to leave the choice to the peer",
            )
    _check_int(
        "compress_level",
        compress_level,
        -1,
        9,
        "use 1 for speed, 9 for size, 6 (or -1) for zlib's default",
    )
    _check_int(
        "mem_level",
        mem_level,
        1,
        9,
        "lower values use less memory per connection; 5 is the default",
    )
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ValueError(
            f"min_size must be an int >= 0, got {min_size!r}; use 0 to compress "
            f"every message"
        )


@dataclass(frozen=True)
class DeflateOptions:
    """What this endpoint asks for and accepts in permessage-deflate.

    The same object configures a client and a server. Field names follow
    RFC 7692: ``server_*`` fields concern what the server compresses,
    ``client_*`` fields what the client compresses, whichever side we are.

    For a server, ``server_*`` fields limit our own compressor (they are
    always granted, RFC 7692 lets a server add them to any response) and
    ``client_*`` fields ask the client to limit its compressor:
    ``client_no_context_takeover`` is always granted, while
    ``client_max_window_bits`` can only be imposed when the client's offer
    says it supports that parameter; otherwise the offer is still accepted
    and the client may use a 15-bit window.

    For a client, ``server_*`` fields are requests the server must grant, or
    :func:`client_accept` fails the handshake, and ``client_*`` fields are
    promises about our own compressor.

    Attributes:
        server_no_context_takeover: the server resets its compressor after
            every message.
        client_no_context_takeover: the client resets its compressor after
            every message.
        server_max_window_bits: the largest LZ77 window, as a power of two
            from 8 to 15, the server may compress with; ``None`` leaves it at
            15 unless the peer asks for less.
        client_max_window_bits: the same for the client's compressor.
        compress_level: zlib compression level, 0 (store) to 9 (smallest),
            or -1 for zlib's default (6).
        mem_level: zlib ``memLevel``, 1 to 9: the size of the compressor's
            hash table and block buffer. A compressor takes about
            ``2**(window_bits + 2) + 2**(mem_level + 9)`` bytes plus 6 KiB.
            The default of 5 instead of zlib's 8 saves 112 KiB per
            connection (150 KiB instead of 262 KiB with a 15-bit window,
            measured with tracemalloc), while messages of a JSON workload
            came out less than 1% larger.
        min_size: messages shorter than this many bytes are sent without
            compression (RSV1 clear): DEFLATE rarely shrinks them, and
            "Hello" even grows from 5 to 7 bytes. 0 compresses everything.

    Raises:
        ValueError: from ``__post_init__``, if a field is out of range.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: Optional[int] = None
    client_max_window_bits: Optional[int] = None
    compress_level: int = 6
    mem_level: int = 5
    min_size: int = 32

    def __post_init__(self) -> None:
        """Validate every field.

        Raises:
            ValueError: with a message saying which field is wrong and what
                to use instead.
        """
        _check_settings(
            self.server_no_context_takeover,
            self.client_no_context_takeover,
            self.server_max_window_bits,
            self.client_max_window_bits,
            self.compress_level,
            self.mem_level,
            self.min_size,
        )


class PerMessageDeflate:
    """Negotiated permessage-deflate for one connection.

    Holds the agreed parameters and the two zlib streams. Build it through
    :func:`server_negotiate` or :func:`client_accept` rather than directly.

    The caller sets RSV1 on the first frame of a compressed message, and
    decides whether to compress: a whole message shorter than
    :attr:`min_size` is better sent as is, while a fragmented message of
    unknown length should be compressed. Every fragment of a compressed
    message must then go through :meth:`compress` (sending) or
    :meth:`decompress` (receiving), in order. Messages sent or received
    without compression do not touch the zlib streams.

    After :meth:`decompress` raised, the receiving stream is broken; the
    caller must fail the connection, as the exception's ``code`` says.

    Attributes:
        name: the extension token, ``"permessage-deflate"``.
        is_server: whether this endpoint is the server.
        server_no_context_takeover: the agreed parameter.
        client_no_context_takeover: the agreed parameter.
        server_max_window_bits: the agreed window of the server's
            compressor, 8 to 15.
        client_max_window_bits: the agreed window of the client's
            compressor, 8 to 15.
        compress_level: zlib level of our compressor.
        mem_level: zlib ``memLevel`` of our compressor.
        min_size: messages shorter than this are best sent uncompressed.
    """

    name = "permessage-deflate"

    # One per compressed connection: slots keep it small. The zlib streams
    # themselves (over 100 KiB for a compressor) are only created when a
    # message needs them, and dropped after each message where the agreed
    # parameters say no context is kept.
    __slots__ = (
        "is_server",
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "compress_level",
        "mem_level",
        "min_size",
        "_local_no_context_takeover",
        "_local_window_bits",
        "_remote_no_context_takeover",
        "_remote_window_bits",
        "_compressor",
        "_decompressor",
        "_after_final_block",
        "_message_started",
    )

    def __init__(
        self,
        *,
        is_server: bool,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
        compress_level: int = 6,
        mem_level: int = 5,
        min_size: int = 32,
    ) -> None:
        """Set up the parameters; zlib streams are created on first use.

        Args:
            is_server: ``True`` on the server side of the connection.
            server_no_context_takeover: the server resets its compressor
                after each message.
            client_no_context_takeover: the client resets its compressor
                after each message.
            server_max_window_bits: window of the server's compressor.
            client_max_window_bits: window of the client's compressor.
            compress_level: zlib level, -1 to 9.
            mem_level: zlib ``memLevel``, 1 to 9.
            min_size: see :attr:`DeflateOptions.min_size`.

        Raises:
            ValueError: if a parameter is out of range.
        """
        if server_max_window_bits is None or client_max_window_bits is None:
            raise ValueError(
                "PerMessageDeflate needs the agreed window bits (8 to 15), "
                "not None; use 15 when nothing was negotiated"
            )
        _check_settings(
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits,
            compress_level,
            mem_level,
            min_size,
        )
        self.is_server = bool(is_server)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.min_size = min_size
        if self.is_server:
            self._local_no_context_takeover = server_no_context_takeover
            self._local_window_bits = server_max_window_bits
            self._remote_no_context_takeover = client_no_context_takeover
            self._remote_window_bits = client_max_window_bits
        else:
            self._local_no_context_takeover = client_no_context_takeover
            self._local_window_bits = client_max_window_bits
            self._remote_no_context_takeover = server_no_context_takeover
            self._remote_window_bits = server_max_window_bits
        self._compressor: Optional[zlib._Compress] = None
        self._decompressor: Optional[zlib._Decompress] = None
        # True between the end of a DEFLATE stream (a block with BFINAL set)
        # and the next compressed byte of the peer; see decompress().
        self._after_final_block = False
        # Whether compressed data of the current message was fed already.
        self._message_started = False

    def __repr__(self) -> str:
        side = "server" if self.is_server else "client"
        return (
            f"PerMessageDeflate({side}, "
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits})"
        )

    def _new_compressor(self) -> zlib._Compress:
        """Return a raw DEFLATE compressor honouring our agreed window."""
        bits = self._local_window_bits
        if bits < 9:
            # zlib refuses raw windowBits 8 (see the module docstring).
            # Z_RLE only emits distances of one, valid for any window.
            return zlib.compressobj(
                self.compress_level, zlib.DEFLATED, -9, self.mem_level, zlib.Z_RLE
            )
        return zlib.compressobj(
            self.compress_level, zlib.DEFLATED, -bits, self.mem_level
        )

    def compress(self, data: bytes | bytearray | memoryview, fin: bool = True) -> bytes:
        """Compress one fragment of a message (RFC 7692 section 7.2.1).

        A whole message is ``compress(data)``. A fragmented message is
        compressed one fragment at a time, in order, with ``fin=True`` on the
        last one only. Each call ends with a ``Z_SYNC_FLUSH``, so its output
        can be sent at once; on the final fragment the trailing
        ``00 00 ff ff`` of the flush is removed. An empty final fragment
        yields the single octet ``00`` (section 7.2.3.6).

        After the final fragment, the compressor is discarded when our side
        agreed to no context takeover, so that the next message starts from
        an empty window.

        Args:
            data: the uncompressed fragment.
            fin: whether this is the last fragment of the message.

        Returns:
            the frame payload to send, with RSV1 set on the message's first
            frame.
        """
        if len(data) == 0:
            # Our streams are always flushed, so an empty fragment adds
            # nothing; a final one still needs the header octet of the empty
            # block whose other 4 octets the receiver appends.
            output = _EMPTY_MESSAGE if fin else b""
        else:
            compressor = self._compressor
            if compressor is None:
                compressor = self._compressor = self._new_compressor()
            output = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if fin:
                # 7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from
                # the tail end." A sync flush always ends with them.
                assert output.endswith(_EMPTY_BLOCK_TAIL), output[-8:]
                output = output[: -len(_EMPTY_BLOCK_TAIL)]
        if fin and self._local_no_context_takeover:
            self._compressor = None
        return output

    def decompress(
        self,
        data: bytes | bytearray | memoryview,
        fin: bool,
        max_size: Optional[int],
    ) -> bytes:
        """Inflate one frame's payload of a compressed message.

        Frames must be passed in order, ``fin=True`` on the last one. On that
        frame ``00 00 ff ff`` is appended before inflating (RFC 7692 section
        7.2.2), and the decompressor is discarded afterwards when the peer
        agreed to no context takeover.

        This is :meth:`inflate` with its pieces joined: a caller that keeps
        the pieces, or decodes them as they come, holds the inflated bytes
        only once.

        Args:
            data: the frame payload.
            fin: whether this is the last frame of the message.
            max_size: how many more bytes the message may still grow, or
                ``None`` for no limit. A negative value counts as 0.

        Returns:
            the inflated bytes of this frame.

        Raises:
            PayloadTooBig: if the inflated data exceeds ``max_size`` (close
                code 1009).
            ProtocolError: if the data is not valid DEFLATE data, for
                instance a reference beyond the agreed window (close code
                1007).
        """
        return b"".join(self.inflate(data, fin, max_size))

    def inflate(
        self,
        data: bytes | bytearray | memoryview,
        fin: bool,
        max_size: Optional[int],
    ) -> Iterator[bytes]:
        """Inflate one frame's payload (or a part of it) piece by piece.

        Same contract as :meth:`decompress`, but the inflated bytes come as
        pieces of at most 32 KiB, produced one at a time while the caller
        iterates. The payload of one frame may be passed in several calls,
        in order, with ``fin=True`` on the very last one only.

        ``max_size`` is a security limit. zlib is asked for at most one byte
        more than may still be produced, so a payload that would inflate
        further is refused after producing ``max_size + 1`` bytes, however
        much it would produce in total. A caller that drops or consumes each
        piece before asking for the next holds at most 32 KiB of it; one that
        keeps them holds at most ``max_size + 1`` bytes.

        A DEFLATE block with BFINAL set ends the peer's stream (section
        7.2.3.4); what follows it starts a new stream with an empty window.
        If a message ends exactly with such a block, the appended
        ``00 00 ff ff`` is not needed and is dropped.

        Iterate to the end (or until it raises): the stream's state for the
        next call is only updated then.

        Yields:
            non-empty pieces of inflated bytes, in order.

        Raises:
            PayloadTooBig: if the inflated data exceeds ``max_size`` (close
                code 1009).
            ProtocolError: if the data is not valid DEFLATE data (close code
                1007).
        """
        limit = None if max_size is None else max(max_size, 0)
        if len(data) == 0 and not self._message_started:
            # No compressed data yet: an empty message (or fragment) is empty.
            # Feeding the 00 00 ff ff tail alone would leave zlib inside a block.
            return
        self._message_started = not fin
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(
                -self._remote_window_bits
            )
        chunks: Tuple[bytes | bytearray | memoryview, ...]
        chunks = (data, _EMPTY_BLOCK_TAIL) if fin else (data,)
        size = 0
        for index, chunk in enumerate(chunks):
            appended = index == 1
            if appended and self._after_final_block:
                break
            # The input goes to zlib in slices too: the input it leaves over
            # (unconsumed_tail, unused_data) comes back as a copy, which
            # stays as small as a slice.
            with memoryview(chunk) as view:
                pos = 0
                end = len(view)
                # Whether zlib may hold output of input it already took.
                pending = False
                while pos < end or pending:
                    if not appended:
                        self._after_final_block = False
                    # Ask for one byte more than allowed: getting it proves
                    # the limit is exceeded without inflating any further.
                    # And at most _INFLATE_STEP per call: zlib returns that
                    # in one buffer, without copying blocks together.
                    max_length = _INFLATE_STEP
                    if limit is not None:
                        max_length = min(max_length, limit - size + 1)
                    with view[pos : pos + _INFLATE_INPUT] as fed:
                        try:
                            piece = decompressor.decompress(fed, max_length)
                        except zlib.error as exc:
                            raise ProtocolError(
                                f"invalid compressed data: {exc}", 1007
                            ) from exc
                        if decompressor.eof:
                            # A final block ended the stream; anything after
                            # it is a new stream without history.
                            pos += len(fed) - len(decompressor.unused_data)
                            decompressor = self._decompressor = zlib.decompressobj(
                                -self._remote_window_bits
                            )
                            self._after_final_block = True
                            pending = False
                        else:
                            pos += len(fed) - len(decompressor.unconsumed_tail)
                            # A full output may have stopped zlib in the
                            # middle of a match: ask again, without input.
                            pending = len(piece) == max_length
                    if not piece:
                        continue
                    size += len(piece)
                    if limit is not None and size > limit:
                        raise PayloadTooBig(
                            f"decompressed message exceeds the limit of {limit} "
                            f"more bytes"
                        )
                    if appended:
                        # The 00 00 ff ff tail closes an empty stored block
                        # and inflates to nothing unless the message stopped
                        # inside a block.
                        raise ProtocolError(
                            "compressed message does not end on a block boundary",
                            1007,
                        )
                    yield piece
        if fin:
            self._after_final_block = False
            if self._remote_no_context_takeover:
                self._decompressor = None


class _InvalidParams(Exception):
    """Parameters that break RFC 7692 section 7.1 (internal)."""


class _Parsed:
    """The parameters of one offer or response, checked one by one.

    Attributes:
        server_no_context_takeover: whether the parameter is present.
        client_no_context_takeover: whether the parameter is present.
        server_max_window_bits: its value, or ``None`` when absent.
        client_max_window_bits: its value, or ``None`` when absent or given
            without a value.
        client_max_window_bits_present: whether the parameter is present,
            with or without a value.
    """

    def __init__(self, params: Params, *, response: bool) -> None:
        """Parse and check ``params``.

        Args:
            params: the parameters, in header order.
            response: ``True`` for a server's response, where
                ``client_max_window_bits`` needs a value.

        Raises:
            _InvalidParams: on an unknown or repeated parameter, or an
                invalid value.
        """
        seen: Dict[str, Optional[str]] = {}
        for raw_name, value in params:
            # Extension parameter names are tokens, compared without case.
            name = raw_name.lower()
            if name not in _PARAMETERS:
                raise _InvalidParams(f"unknown parameter {raw_name!r}")
            if name in seen:
                raise _InvalidParams(f"duplicate parameter {name}")
            seen[name] = value
        self.server_no_context_takeover = _flag(seen, _SERVER_NO_CONTEXT_TAKEOVER)
        self.client_no_context_takeover = _flag(seen, _CLIENT_NO_CONTEXT_TAKEOVER)
        # 7.1.2.1: server_max_window_bits always carries a value.
        self.server_max_window_bits = _bits(seen, _SERVER_MAX_WINDOW_BITS, True)
        # 7.1.2.2: in an offer, client_max_window_bits may come without a
        # value, meaning "I support this parameter in the response"; in a
        # response it carries the window the client must use.
        self.client_max_window_bits = _bits(seen, _CLIENT_MAX_WINDOW_BITS, response)
        self.client_max_window_bits_present = _CLIENT_MAX_WINDOW_BITS in seen


def _flag(seen: Dict[str, Optional[str]], name: str) -> bool:
    """Return whether the no-value parameter ``name`` is present.

    Raises:
        _InvalidParams: if it has a value (RFC 7692 sections 7.1.1.1 and
            7.1.1.2: "This extension parameter has no value").
    """
    if name not in seen:
        return False
    value = seen[name]
    if value is not None:
        raise _InvalidParams(f"{name} takes no value, got {name}={value!r}")
    return True


def _bits(
    seen: Dict[str, Optional[str]], name: str, value_required: bool
) -> Optional[int]:
    """Return the window bits of parameter ``name``, ``None`` if absent or
    without a value.

    Raises:
        _InvalidParams: if the value is missing but required, or is not one
            of ``8`` ... ``15`` written without leading zeroes.
    """
    if name not in seen:
        return None
    value = seen[name]
    if value is None:
        if value_required:
            raise _InvalidParams(f"{name} needs a value from 8 to 15")
        return None
    bits = _WINDOW_BITS.get(value)
    if bits is None:
        raise _InvalidParams(
            f"{name}={value!r} is invalid; the value must be 8 to 15, "
            f"without leading zeroes"
        )
    return bits


def client_offer(options: DeflateOptions) -> Params:
    """Build the parameters of the client's permessage-deflate offer.

    ``client_max_window_bits`` is always sent, without a value when
    ``options.client_max_window_bits`` is ``None``: RFC 7692 section 7.1.2.2
    lets a client say so that it supports any window the server picks, which
    helps servers short of memory. We can honour every window, 8 included
    (see the module docstring).

    Args:
        options: what we ask the server for.

    Returns:
        the offer's parameters, for example
        ``[("client_max_window_bits", None)]``.
    """
    params: Params = []
    if options.server_no_context_takeover:
        params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
    if options.client_no_context_takeover:
        params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
    if options.server_max_window_bits is not None:
        params.append((_SERVER_MAX_WINDOW_BITS, str(options.server_max_window_bits)))
    if options.client_max_window_bits is not None:
        params.append((_CLIENT_MAX_WINDOW_BITS, str(options.client_max_window_bits)))
    else:
        params.append((_CLIENT_MAX_WINDOW_BITS, None))
    return params


def client_accept(params: Params, options: DeflateOptions) -> PerMessageDeflate:
    """Check the server's response to :func:`client_offer` and set up the
    extension (RFC 7692 section 7.1).

    The response must only contain known parameters, each at most once, with
    valid values, and must grant what the offer requested:
    ``server_no_context_takeover`` and a ``server_max_window_bits`` no larger
    than requested. ``client_max_window_bits`` is only allowed if offered;
    if its value is larger than the one we offered, we keep ours, as section
    7.1.2.2 says the offered value is a limit the client keeps "even if the
    server doesn't include" a smaller one.

    Args:
        params: the parameters of the server's permessage-deflate response.
        options: the options :func:`client_offer` was built from.

    Returns:
        the negotiated extension for the client side.

    Raises:
        NegotiationError: if the response is invalid or does not grant the
            offer; the connection must be failed.
    """
    return _accept_response(params, client_offer(options), options)


def _accept_response(
    params: Params, offer_params: Params, options: DeflateOptions
) -> PerMessageDeflate:
    """Check a response against the offer it answers.

    Split from :func:`client_accept` so that any offer can be checked.

    Raises:
        NegotiationError: if the response is invalid for this offer.
    """
    offer = _Parsed(offer_params, response=False)
    try:
        response = _Parsed(params, response=True)
    except _InvalidParams as exc:
        raise NegotiationError(f"invalid permessage-deflate response: {exc}") from exc

    # 7.1.1.1: "A server accepts an extension negotiation offer that includes
    # the server_no_context_takeover extension parameter by including the
    # server_no_context_takeover extension parameter in the corresponding
    # extension negotiation response". Without it the offer wasn't accepted.
    if offer.server_no_context_takeover and not response.server_no_context_takeover:
        raise NegotiationError(
            "invalid permessage-deflate response: server_no_context_takeover "
            "was requested but not granted"
        )

    # 7.1.2.1: the server accepts server_max_window_bits "by including the
    # server_max_window_bits extension parameter in the extension
    # negotiation response ... with the same or smaller value as the offer".
    server_bits = response.server_max_window_bits
    if offer.server_max_window_bits is not None:
        if server_bits is None:
            raise NegotiationError(
                f"invalid permessage-deflate response: "
                f"server_max_window_bits={offer.server_max_window_bits} was "
                f"requested but not granted"
            )
        if server_bits > offer.server_max_window_bits:
            raise NegotiationError(
                f"invalid permessage-deflate response: "
                f"server_max_window_bits={server_bits} is larger than the "
                f"{offer.server_max_window_bits} requested"
            )

    # 7.1.2.2: "If a received extension negotiation offer doesn't have the
    # client_max_window_bits extension parameter, the corresponding extension
    # negotiation response to the offer MUST NOT include [it]".
    client_bits = response.client_max_window_bits
    if client_bits is not None and not offer.client_max_window_bits_present:
        raise NegotiationError(
            "invalid permessage-deflate response: client_max_window_bits was "
            "not offered"
        )
    client_bits = min(
        15 if client_bits is None else client_bits,
        15 if offer.client_max_window_bits is None else offer.client_max_window_bits,
    )

    return PerMessageDeflate(
        is_server=False,
        server_no_context_takeover=response.server_no_context_takeover,
        # 7.1.1.2: offering client_no_context_takeover is a promise, kept even
        # if the server doesn't repeat it.
        client_no_context_takeover=(
            response.client_no_context_takeover or offer.client_no_context_takeover
        ),
        server_max_window_bits=15 if server_bits is None else server_bits,
        client_max_window_bits=client_bits,
        compress_level=options.compress_level,
        mem_level=options.mem_level,
        min_size=options.min_size,
    )


def server_negotiate(
    offers: Sequence[Params], options: DeflateOptions
) -> Optional[Tuple[Params, PerMessageDeflate]]:
    """Accept the first acceptable permessage-deflate offer (RFC 7692 7.1).

    Offers with an unknown or repeated parameter or an invalid value are
    declined, as section 7.1 requires, and the next offer is tried. Our
    options are then applied to the accepted offer:

    - ``server_no_context_takeover`` is in the response if the client asked
      for it or ``options`` requires it;
    - ``client_no_context_takeover`` is in the response if the client offered
      it (so we can drop its stream between messages) or ``options``
      requires it;
    - ``server_max_window_bits`` is in the response if the client asked for
      it (with the smaller of its value and ours) or ``options`` asks for
      less than 15;
    - ``client_max_window_bits`` is in the response only if the client
      offered it: with the smaller of its value and ours, or ours if it came
      without a value and ``options`` asks for less than 15.

    Args:
        offers: the parameters of each permessage-deflate offer in the
            client's header, in the client's order of preference.
        options: what we accept and require.

    Returns:
        ``(response_params, extension)`` for the accepted offer, or ``None``
        if no offer is valid; the handshake then proceeds without
        compression.
    """
    for offer_params in offers:
        try:
            offer = _Parsed(offer_params, response=False)
        except _InvalidParams:
            continue
        return _accept_offer(offer, options)
    return None


def _accept_offer(
    offer: _Parsed, options: DeflateOptions
) -> Tuple[Params, PerMessageDeflate]:
    """Build the response to a valid offer and the server's extension."""
    response: Params = []

    server_no_context_takeover = (
        offer.server_no_context_takeover or options.server_no_context_takeover
    )
    if server_no_context_takeover:
        response.append((_SERVER_NO_CONTEXT_TAKEOVER, None))

    client_no_context_takeover = (
        offer.client_no_context_takeover or options.client_no_context_takeover
    )
    if client_no_context_takeover:
        response.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))

    wanted = options.server_max_window_bits
    if offer.server_max_window_bits is not None:
        # 7.1.2.1: accepting means echoing "the same or smaller value".
        server_bits = offer.server_max_window_bits
        if wanted is not None:
            server_bits = min(server_bits, wanted)
        response.append((_SERVER_MAX_WINDOW_BITS, str(server_bits)))
    elif wanted is not None and wanted < 15:
        # 7.1.2.1: "A server MAY include the server_max_window_bits extension
        # parameter in an extension negotiation response even if the
        # extension negotiation offer being accepted by the response didn't
        # include [it]".
        server_bits = wanted
        response.append((_SERVER_MAX_WINDOW_BITS, str(server_bits)))
    else:
        server_bits = 15

    wanted = options.client_max_window_bits
    client_bits = 15
    if offer.client_max_window_bits is not None:
        # 7.1.2.2: the client won't use more than its value anyway; echo it
        # (or less) so that both sides agree on the window in writing.
        client_bits = offer.client_max_window_bits
        if wanted is not None:
            client_bits = min(client_bits, wanted)
        response.append((_CLIENT_MAX_WINDOW_BITS, str(client_bits)))
    elif offer.client_max_window_bits_present and wanted is not None and wanted < 15:
        client_bits = wanted
        response.append((_CLIENT_MAX_WINDOW_BITS, str(client_bits)))

    extension = PerMessageDeflate(
        is_server=True,
        server_no_context_takeover=server_no_context_takeover,
        client_no_context_takeover=client_no_context_takeover,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        compress_level=options.compress_level,
        mem_level=options.mem_level,
        min_size=options.min_size,
    )
    return response, extension
