"""The WebSocket protocol state machine (RFC 6455 sections 5-7), without I/O.

Theory of operation
-------------------
A :class:`Protocol` is fed the bytes read from the peer with
:meth:`~Protocol.receive_data` (and :meth:`~Protocol.receive_eof` when the peer
closed TCP); it returns nothing, but queues *events* (:class:`TextMessage`,
:class:`BinaryMessage`, :class:`Ping`, :class:`Pong`, :class:`Close`) that the
caller collects with :meth:`~Protocol.events_received`. Every ``send_*`` method
queues bytes that the caller writes to the peer after collecting them with
:meth:`~Protocol.data_to_send`; an empty ``bytes`` in that list means "close
the TCP connection now".

The same class serves both roles (:class:`Side`): the side decides which frames
must be masked and who closes TCP first (the server, RFC 6455 7.1.1).

Errors by the peer never raise: the connection is *failed* (RFC 6455 7.1.7):
a Close frame with the right code is queued, TCP is to be closed, the cause is
kept in :attr:`Protocol.failure`, and later input is ignored. Errors by the
caller (sending after close, a close code that may not be sent) raise
:class:`~wsocket.exceptions.InvalidState` or :class:`ValueError` at once.

Strategy for speed: :meth:`Protocol.receive_data` parses every complete frame already in
the buffer in one loop. Runs of whole single-frame messages, the common case,
go straight from the buffer to their events in one call of
:func:`~wsocket.frames.scan_messages` (in C when the extension was built);
every other frame (control frames, fragments, compressed or invalid frames)
takes the general path below, one frame at a time, and only fragmented or
compressed messages use the reassembly state.
"""

from __future__ import annotations

import codecs
import logging
import os
from enum import IntEnum
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union

from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    CloseCode,
    apply_mask,
    build_header,
    message_too_big,
    parse_close,
    parse_header,
    scan_messages,
    serialize_close,
)

if TYPE_CHECKING:
    from .deflate import PerMessageDeflate

__all__ = [
    "Side",
    "State",
    "Protocol",
    "Event",
    "TextMessage",
    "BinaryMessage",
    "Ping",
    "Pong",
    "Close",
    "SERVER",
    "CLIENT",
]

BytesLike = Union[bytes, bytearray, memoryview]

logger = logging.getLogger("wsocket.protocol")


class Side(IntEnum):
    """Which end of the connection a :class:`Protocol` plays."""

    SERVER = 0
    CLIENT = 1


SERVER = Side.SERVER
CLIENT = Side.CLIENT


class State(IntEnum):
    """Connection state (RFC 6455 section 4 and 7)."""

    OPEN = 1  #: messages flow both ways
    CLOSING = 2  #: a Close frame was sent or received, not both
    CLOSED = 3  #: the closing handshake is done or the connection failed


# ---------------------------------------------------------------------------
# Events. Plain classes with __slots__: they are created once per message on
# the hot path, so they stay cheaper than dataclasses or named tuples.


class Event:
    """Base class of the events a :class:`Protocol` emits."""

    __slots__ = ()

    def _key(self) -> Tuple[Any, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self), self._key()))

    def __repr__(self) -> str:
        args = ", ".join(repr(value) for value in self._key())
        return f"{type(self).__name__}({args})"


class TextMessage(Event):
    """A complete text message; ``data`` is a :class:`str`."""

    __slots__ = ("data",)

    def __init__(self, data: str) -> None:
        self.data = data

    def _key(self) -> Tuple[Any, ...]:
        return (self.data,)


class BinaryMessage(Event):
    """A complete binary message; ``data`` is :class:`bytes`."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _key(self) -> Tuple[Any, ...]:
        return (self.data,)


class Ping(Event):
    """A Ping frame; the protocol has already queued the matching Pong."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload

    def _key(self) -> Tuple[Any, ...]:
        return (self.payload,)


class Pong(Event):
    """A Pong frame."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes = b"") -> None:
        self.payload = payload

    def _key(self) -> Tuple[Any, ...]:
        return (self.payload,)


class Close(Event):
    """The peer's Close frame: ``code`` (1005 when it carried none) and ``reason``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason

    def _key(self) -> Tuple[Any, ...]:
        return (self.code, self.reason)


_OPEN = State.OPEN
_CLOSING = State.CLOSING
_CLOSED = State.CLOSED
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
_urandom = os.urandom
_EOF = b""
_CLEAN_CODES = frozenset((1000, 1001, 1005))


def _invalid_utf8() -> ProtocolError:
    """The error for text that is not valid UTF-8 (close code 1007)."""
    return ProtocolError("invalid UTF-8 in a text message", 1007)


#: Frames whose payload is at most this long are written as one bytes object
#: (header + payload); larger ones as two, to avoid copying the payload.
_JOIN_LIMIT = 16384

#: Compressed payloads are unmasked and inflated this many bytes at a time,
#: so that a large compressed frame is never copied whole.
_INFLATE_SLICE = 16384


def _rotate(mask: bytes, offset: int) -> bytes:
    """Return the mask that continues masking after ``offset`` payload bytes."""
    offset &= 3
    return mask[offset:] + mask[:offset]


class Protocol:
    """Sans-I/O WebSocket connection for either side, from the OPEN state.

    Args:
        side: :data:`SERVER` or :data:`CLIENT`.
        max_message_size: largest message accepted from the peer, in bytes,
            after decompression (a security limit: a larger message fails the
            connection with 1009 before its payload is buffered). ``None``
            lifts the limit.
        max_fragments: most frames one message may span (a security limit:
            empty continuation frames cost nothing under
            ``max_message_size`` yet keep a message open forever; one more
            frame fails the connection with 1009). ``None`` lifts the limit.
        deflate: the negotiated permessage-deflate extension, if any.
        logger: where to log frames at DEBUG level; defaults to
            ``wsocket.protocol``.
    """

    # One per connection, alive as long as it is: slots keep it small.
    __slots__ = (
        "side",
        "max_message_size",
        "max_fragments",
        "deflate",
        "logger",
        "debug",
        "state",
        "close_rcvd",
        "close_sent",
        "close_rcvd_then_sent",
        "failure",
        "fail_code",
        "fail_reason",
        "eof_sent",
        "eof_rcvd",
        "_buf",
        "_events",
        "_out",
        "_mask_out",
        "_mask_in",
        "_msg_opcode",
        "_msg_compressed",
        "_msg_size",
        "_msg_parts",
        "_msg_frames",
        "_decoder",
        "_head_done",
        "_wait_for",
        "_send_opcode",
        "_send_compressed",
    )

    def __init__(
        self,
        side: Side,
        *,
        max_message_size: Optional[int] = 2**20,
        max_fragments: Optional[int] = 4096,
        deflate: Optional[PerMessageDeflate] = None,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        if max_message_size is not None and max_message_size < 0:
            raise ValueError("max_message_size must be a positive int or None")
        if max_fragments is not None and max_fragments < 1:
            raise ValueError("max_fragments must be at least 1, or None")
        self.max_fragments = max_fragments
        self.side = side if type(side) is Side else Side(side)
        self.max_message_size = max_message_size
        self.deflate = deflate
        self.logger = logger or globals()["logger"]
        self.debug = self.logger.isEnabledFor(logging.DEBUG)
        self.state = _OPEN

        #: The peer's close frame as ``(code, reason)``, once received.
        self.close_rcvd: Optional[Tuple[int, str]] = None
        #: Our close frame as ``(code, reason)``, once sent.
        self.close_sent: Optional[Tuple[int, str]] = None
        #: Whether the peer's close frame came before ours.
        self.close_rcvd_then_sent: Optional[bool] = None
        #: Why the connection was failed, when the peer broke the protocol.
        self.failure: Optional[ProtocolError] = None
        #: The code and reason given to :meth:`fail`, when we failed it.
        self.fail_code: Optional[int] = None
        self.fail_reason = ""
        self.eof_sent = False
        self.eof_rcvd = False

        self._buf = bytearray()
        self._events: List[Event] = []
        self._out: List[bytes] = []
        self._mask_out = self.side is CLIENT
        self._mask_in = self.side is SERVER

        # Reassembly of the message in progress (opcode 0: none).
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_size = 0
        self._msg_frames = 0
        self._msg_parts: List[Any] = []
        self._decoder: Any = None
        # Bytes of the frame at the head of the buffer already decoded while
        # it was incomplete (fail-fast UTF-8 validation), -1 when none.
        self._head_done = -1
        # The size of the buffer at which the incomplete frame at its start
        # is whole, when nothing can be done with less (0: parse each time).
        self._wait_for = 0
        # Outgoing fragmented message: 0 none, else its opcode.
        self._send_opcode = 0
        self._send_compressed = False

    # -- public state --------------------------------------------------------

    @property
    def close_code(self) -> Optional[int]:
        """Why the connection closed, or ``None`` while it is open.

        The code of the peer's Close frame (1005 when it had none); else the
        code we failed the connection with; else 1006 (closed abnormally).
        """
        if self.close_rcvd is not None:
            return self.close_rcvd[0]
        if self.failure is not None:
            return self.failure.code
        if self.fail_code is not None:
            return self.fail_code
        if self.state is _CLOSED or self.eof_rcvd:
            return CloseCode.ABNORMAL_CLOSURE
        return None

    @property
    def close_reason(self) -> str:
        """The reason that goes with :attr:`close_code` (may be empty)."""
        if self.close_rcvd is not None:
            return self.close_rcvd[1]
        if self.failure is not None:
            return str(self.failure)
        return self.fail_reason

    def close_exc(self) -> ConnectionClosed:
        """Return the :class:`~wsocket.exceptions.ConnectionClosed` to raise now."""
        code = self.close_code
        if code is None:
            # Still closing: report the code we sent.
            code = self.close_sent[0] if self.close_sent else CloseCode.ABNORMAL_CLOSURE
        clean = (
            self.close_rcvd is not None
            and self.close_sent is not None
            and code in _CLEAN_CODES
            and self.failure is None
            and self.fail_code is None
        )
        cls = ConnectionClosedOK if clean else ConnectionClosedError
        exc = cls(code, self.close_reason)
        if self.failure is not None:
            exc.__cause__ = self.failure
        return exc

    def close_expected(self) -> bool:
        """Tell whether the peer is expected to close TCP soon.

        True once the closing handshake is done or the connection failed: the
        caller should then wait a little for EOF, and close TCP itself after a
        timeout.
        """
        return self.state is _CLOSED and not self.eof_rcvd

    # -- receiving -----------------------------------------------------------

    def receive_data(self, data: BytesLike) -> None:
        """Feed bytes received from the peer.

        Events become available through :meth:`events_received`; replies
        (Pong, Close) through :meth:`data_to_send`.

        Raises:
            InvalidState: after :meth:`receive_eof`.
        """
        if self.eof_rcvd:
            raise InvalidState("receive_data() called after receive_eof()")
        if self.state is _CLOSED or (self.close_rcvd is not None):
            return  # RFC 6455 7.1.7: nothing more is processed
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._wait_for:
                return  # a part of a large binary frame: nothing to do yet
            data = buf
        # else: parse straight from ``data``; only an incomplete frame at its
        # end is copied into the buffer, which stays empty between messages.
        self._wait_for = 0
        try:
            pos = 0
            if not self._msg_opcode and self._head_done < 0:
                # Between messages: the run of whole single-frame messages,
                # the common case, in one call; it stops at any other frame.
                pos = scan_messages(
                    data,
                    0,
                    self._mask_in,
                    self.max_message_size,
                    self._events,
                    TextMessage,
                    BinaryMessage,
                )
            if len(data) - pos >= 2:
                pos = self._parse(data, pos)
        except ProtocolError as exc:
            self._fail(exc)
            return
        if data is buf:
            if pos:
                del buf[:pos]
        elif pos < len(data) and self.close_rcvd is None:
            self._buf += data[pos:]

    def receive_eof(self) -> None:
        """Tell the protocol the peer closed its side of the TCP connection."""
        if self.eof_rcvd:
            return
        self.eof_rcvd = True
        if self.state is not _CLOSED:
            # RFC 6455 7.1.5: without a Close frame the code is 1006.
            self.state = _CLOSED
            if self.debug:
                self.logger.debug("! connection closed abnormally (EOF)")
        self._buf = bytearray()
        self._reset_message()
        if not self.eof_sent:
            self._send_eof()

    def events_received(self) -> List[Event]:
        """Return the events received since the last call, oldest first."""
        events = self._events
        if events:
            self._events = []
        return events

    def data_to_send(self) -> List[bytes]:
        """Return the bytes to write to the peer since the last call.

        An empty ``bytes`` object in the list means "close the TCP connection
        (half-close for writing) after writing what comes before it".
        """
        out = self._out
        if out:
            self._out = []
        return out

    def has_data_to_send(self) -> bool:
        """Tell whether :meth:`data_to_send` would return anything now.

        An I/O layer that processed input under a lock uses it to decide
        whether a reply (a Pong, the Close echo) waits to be written, without
        taking the bytes out yet.
        """
        return bool(self._out)

    def bytes_needed(self) -> int:
        """How many more bytes complete the frame being received, if known.

        Non-zero while a binary frame longer than what came so far arrives:
        nothing happens until its last byte, so an I/O layer may read that
        much at once instead of in its usual amounts. Otherwise 0.
        """
        wait_for = self._wait_for
        return wait_for - len(self._buf) if wait_for else 0

    def _parse(self, buf: BytesLike, pos: int) -> int:
        """Process the complete frames of ``buf`` from ``pos`` on.

        The frame at ``pos`` is one :func:`~wsocket.frames.scan_messages`
        left (or the next part of a message in progress): it takes the
        general path, and so does each frame after it that is not a plain
        single-frame message.

        Returns:
            How many bytes were consumed; the rest is an incomplete frame.
        """
        events = self._events
        end = len(buf)
        mask_in = self._mask_in
        max_size = self.max_message_size
        # One view for all the payloads of this read, released before the
        # caller resizes the buffer.
        view = memoryview(buf)
        try:
            while end - pos >= 2:
                header = parse_header(buf, pos, end, mask_in)
                if header is None:
                    break
                b0, length, start, mask = header
                opcode = b0 & 0x0F
                stop = start + length
                fresh = self._head_done < 0
                if fresh and (
                    # The first frame of an uncompressed message within the
                    # limit, and control frames, need no more checks.
                    b0 & 0x70
                    or not opcode
                    or self._msg_opcode
                    or (max_size is not None and length > max_size)
                ):
                    self._check_header(b0, opcode, length, max_size)

                if stop > end:
                    # Incomplete payload: wait, but validate text early so
                    # that invalid UTF-8 fails the connection at once (and
                    # inflate early, so that a bomb is refused early).
                    if opcode < OP_CLOSE and (
                        ((b0 & 0x40) if opcode else self._msg_compressed)
                        or opcode == OP_TEXT
                        or (opcode == OP_CONT and self._msg_opcode == OP_TEXT)
                    ):
                        if end > start:
                            self._validate_head(buf, b0, opcode, start, end, mask)
                    else:
                        # Nothing to look at before the frame is whole.
                        self._wait_for = stop - pos
                    break

                if opcode >= OP_CLOSE:
                    if mask is not None:
                        payload = apply_mask(view[start:stop], mask)
                    else:
                        payload = bytes(view[start:stop])
                    pos = stop
                    if opcode == OP_PING:
                        events.append(Ping(payload))
                        if self.debug:
                            self.logger.debug("< PING %r", payload[:32])
                        if self.state is _OPEN:
                            self._send_frame(OP_PONG, payload)
                    elif opcode == OP_PONG:
                        events.append(Pong(payload))
                    else:
                        self._receive_close(payload)
                        self._buf = bytearray()
                        return stop
                else:
                    # Fragments, compressed messages, and whole messages
                    # scan_messages() left for the errors to be raised here.
                    self._receive_fragment(
                        buf, b0, opcode, b0 & 0x80, start, stop, mask
                    )
                    pos = stop
                if not self._msg_opcode:
                    # Between messages again (a complete frame was handled,
                    # so none is half-decoded): back to the common case.
                    pos = scan_messages(
                        buf, pos, mask_in, max_size, events, TextMessage, BinaryMessage
                    )
        finally:
            view.release()
        return pos

    def _check_header(
        self, b0: int, opcode: int, length: int, max_size: Optional[int]
    ) -> None:
        """Apply the rules that depend on the connection (RFC 6455 5.2, 5.4).

        :func:`~wsocket.frames.parse_header` already applied those that do
        not (masking, reserved opcodes, control frames).
        """
        if b0 & 0x70:
            # "MUST be 0 unless an extension is negotiated that defines
            # meanings for non-zero values" (RFC 6455 5.2); permessage-deflate
            # gives RSV1 a meaning on the first frame of a data message only
            # (RFC 7692 6).
            if b0 & 0x30:
                raise ProtocolError("reserved bits RSV2/RSV3 set")
            if self.deflate is None:
                raise ProtocolError(
                    "reserved bit RSV1 set without a negotiated extension"
                )
            if opcode != OP_TEXT and opcode != OP_BINARY:
                raise ProtocolError("RSV1 set on a control or continuation frame")
        if opcode >= OP_CLOSE:
            return
        if opcode == OP_CONT:
            if not self._msg_opcode:
                raise ProtocolError("continuation frame without a message to continue")
            compressed = self._msg_compressed
        else:
            if self._msg_opcode:
                raise ProtocolError("new data frame before the previous message ended")
            compressed = bool(b0 & 0x40)
        if max_size is not None:
            allowed = max_size - (0 if opcode else self._msg_size)
            if compressed:
                # Compressed data may be slightly larger than its inflated
                # form; the exact limit is applied while inflating.
                allowed += allowed // 64 + 1024
            if length > allowed:
                raise message_too_big(max_size)

    def _validate_head(
        self,
        buf: BytesLike,
        b0: int,
        opcode: int,
        start: int,
        end: int,
        mask: Optional[bytes],
    ) -> None:
        """Decode the available part of an incomplete text frame, or inflate
        that of a compressed frame (fail fast, and a bomb is refused before
        its frame is buffered whole)."""
        if (b0 & 0x40) if opcode else self._msg_compressed:
            done = self._head_done
            if done < 0:
                done = 0
                if opcode:
                    self._start_message(opcode, True)
            if end - start > done:
                self._inflate(buf, start, start + done, end, mask, False)
                self._head_done = end - start
            return
        if opcode == OP_TEXT:
            if self._head_done < 0:
                self._start_message(opcode, False)
        elif opcode != OP_CONT or self._msg_opcode != OP_TEXT or self._msg_compressed:
            return
        done = self._head_done if self._head_done > 0 else 0
        if end - start <= done:
            return
        if mask is not None:
            chunk = apply_mask(memoryview(buf)[start + done : end], _rotate(mask, done))
        else:
            chunk = bytes(buf[start + done : end])
        self._decode_text(chunk, False)
        self._head_done = end - start

    def _start_message(self, opcode: int, compressed: bool) -> None:
        self._msg_opcode = opcode
        self._msg_compressed = compressed
        self._msg_size = 0
        self._msg_frames = 1
        self._msg_parts = []
        self._decoder = _utf8_decoder() if opcode == OP_TEXT else None

    def _reset_message(self) -> None:
        self._msg_opcode = 0
        self._msg_parts = []
        self._decoder = None
        self._head_done = -1

    def _decode_text(self, data: BytesLike, final: bool) -> None:
        decoder = self._decoder
        try:
            self._msg_parts.append(decoder.decode(data, final))
        except UnicodeDecodeError:
            raise _invalid_utf8() from None
        if not final:
            pending = decoder.getstate()[0]
            # CPython accepts "ED A0" until the third byte arrives, but no
            # valid sequence starts so: it would encode a surrogate.
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise _invalid_utf8()

    def _receive_fragment(
        self,
        buf: BytesLike,
        b0: int,
        opcode: int,
        fin: int,
        start: int,
        stop: int,
        mask: Optional[bytes],
    ) -> None:
        done = self._head_done
        if done < 0:
            done = 0
            if opcode:
                self._start_message(opcode, bool(b0 & 0x40))
        if not opcode:
            # Each continuation frame comes here exactly once.
            self._msg_frames += 1
            limit = self.max_fragments
            if limit is not None and self._msg_frames > limit:
                raise PayloadTooBig(f"message spans more than {limit} frames")
        self._head_done = -1
        if self._msg_compressed:
            self._inflate(buf, start, start + done, stop, mask, bool(fin))
        else:
            if mask is not None:
                data = apply_mask(
                    memoryview(buf)[start + done : stop], _rotate(mask, done)
                )
            else:
                data = bytes(buf[start + done : stop])
            self._msg_size += len(data) + done
            if self._msg_opcode == OP_TEXT:
                self._decode_text(data, bool(fin))
            else:
                self._msg_parts.append(data)
        if fin:
            parts = self._msg_parts
            if self._msg_opcode == OP_TEXT:
                self._events.append(TextMessage("".join(parts)))
            else:
                self._events.append(BinaryMessage(b"".join(parts)))
            self._reset_message()

    def _inflate(
        self,
        buf: BytesLike,
        start: int,
        pos: int,
        stop: int,
        mask: Optional[bytes],
        fin: bool,
    ) -> None:
        """Inflate ``buf[pos:stop]``, part of the compressed payload starting
        at ``start``, into the message in progress.

        The payload is unmasked and inflated one slice at a time, and each
        inflated piece goes straight into the message, so that a bomb is
        refused having used no more memory than ``max_message_size``, the
        compressed bytes received and a few tens of KiB.
        """
        deflate = self.deflate
        assert deflate is not None
        max_size = self.max_message_size
        text = self._msg_opcode == OP_TEXT
        parts = self._msg_parts
        while True:
            end = min(stop, pos + _INFLATE_SLICE)
            if mask is not None:
                chunk = apply_mask(memoryview(buf)[pos:end], _rotate(mask, pos - start))
            else:
                chunk = bytes(buf[pos:end])
            last = end == stop
            remaining = None if max_size is None else max_size - self._msg_size
            for piece in deflate.inflate(chunk, fin and last, remaining):
                self._msg_size += len(piece)
                if text:
                    self._decode_text(piece, False)
                else:
                    parts.append(piece)
            if last:
                break
            pos = end
        if text and fin:
            self._decode_text(b"", True)

    def _receive_close(self, payload: bytes) -> None:
        code, reason = parse_close(payload)
        self.close_rcvd = (code, reason)
        self._events.append(Close(code, reason))
        if self.debug:
            self.logger.debug("< CLOSE %d %s", code, reason)
        self._reset_message()
        if self.close_sent is None:
            self.close_rcvd_then_sent = True
            # RFC 6455 5.5.1: "the endpoint typically echos the status code it
            # received"; the reason goes back with it, so that the peer's log
            # of the closing handshake reads the same on both ends. A Close
            # without a code (1005) is answered without one.
            if code == CloseCode.NO_STATUS_RCVD:
                self._queue_close(None, "")
            else:
                self._queue_close(code, reason)
        else:
            self.close_rcvd_then_sent = False
        self.state = _CLOSED
        # RFC 6455 7.1.1: the server closes TCP first; the client waits.
        if self.side is SERVER:
            self._send_eof()

    def _fail(self, exc: ProtocolError) -> None:
        """Fail the WebSocket connection (RFC 6455 7.1.7)."""
        if self.debug:
            self.logger.debug("! failing connection: %s (%d)", exc, exc.code)
        self.failure = exc
        self._buf = bytearray()
        self._reset_message()
        if self.close_sent is None and not self.eof_sent:
            self._queue_close(exc.code, _public_reason(exc))
        self.state = _CLOSED
        self._send_eof()

    # -- sending -------------------------------------------------------------

    def _send_frame(
        self, opcode: int, payload: BytesLike, fin: bool = True, rsv1: bool = False
    ) -> None:
        n = len(payload)
        if self._mask_out:
            key = _urandom(4)
            header = build_header(opcode, n, fin=fin, rsv1=rsv1, mask=key)
            payload = apply_mask(payload, key)
        else:
            b0 = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
            if n < 126:
                header = bytes((b0, n))
            else:
                header = build_header(opcode, n, fin=fin, rsv1=rsv1)
        if n <= _JOIN_LIMIT:
            self._out.append(header + payload)
        else:
            self._out.append(header)
            self._out.append(payload if type(payload) is bytes else bytes(payload))

    def _check_open(self) -> None:
        if self.state is not _OPEN:
            raise InvalidState(f"cannot send: the connection is {self.state.name}")

    def _send_data(self, opcode: int, data: BytesLike, fin: bool) -> None:
        if self.state is not _OPEN:
            self._check_open()
        if opcode:
            if self._send_opcode:
                raise InvalidState(
                    "cannot start a new message before the fragmented one is finished"
                )
        elif not self._send_opcode:
            raise InvalidState("send_continuation() without a fragmented message")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        deflate = self.deflate
        rsv1 = False
        compressed = False
        if deflate is not None:
            if opcode:
                compressed = not fin or len(data) >= deflate.min_size
                rsv1 = compressed
            else:
                compressed = self._send_compressed
            if compressed:
                data = deflate.compress(data, fin)
        self._send_frame(opcode, data, fin, rsv1)
        # Only a frame that was queued changes the fragmentation state.
        if fin:
            self._send_opcode = 0
        elif opcode:
            self._send_opcode = opcode
            self._send_compressed = compressed

    def send_text(self, data: Union[str, BytesLike], fin: bool = True) -> None:
        """Queue a text message (or its first fragment when ``fin`` is false).

        Args:
            data: a :class:`str`, or bytes already encoded in UTF-8.
            fin: ``False`` to start a fragmented message, continued with
                :meth:`send_continuation`.

        Raises:
            InvalidState: if the connection is not open, or a fragmented
                message is already in progress.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._send_data(OP_TEXT, data, fin)

    def send_prepared(self, frame: bytes) -> bool:
        """Queue ``frame``, a data frame built once for many connections.

        A broadcast frames its message once (see :func:`~wsocket.frames.encode_frame`)
        and hands the same bytes to every connection that may send them
        as they are: a server side (frames unmasked) without compression
        and with no fragmented message in progress.

        Args:
            frame: a complete, final, unmasked Text or Binary frame without
                reserved bits.

        Returns:
            ``True`` if the frame was queued; ``False`` (nothing queued)
            when this connection must frame the message itself, with
            :meth:`send_text` or :meth:`send_binary`.

        Raises:
            InvalidState: if the connection is not open.
        """
        self._check_open()
        if self._mask_out or self.deflate is not None or self._send_opcode:
            return False
        self._out.append(frame)
        return True

    def send_binary(self, data: BytesLike, fin: bool = True) -> None:
        """Queue a binary message (or its first fragment when ``fin`` is false).

        Raises:
            InvalidState: as :meth:`send_text`.
        """
        self._send_data(OP_BINARY, data, fin)

    def send_continuation(self, data: Union[str, BytesLike], fin: bool) -> None:
        """Queue the next fragment of the message started with ``fin=False``.

        Raises:
            InvalidState: if no fragmented message is in progress.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._send_data(OP_CONT, data, fin)

    def send_ping(self, data: BytesLike = b"") -> None:
        """Queue a Ping frame (payload of at most 125 bytes).

        Raises:
            InvalidState: if the connection is not open.
            ValueError: if the payload is longer than 125 bytes.
        """
        self._check_open()
        if len(data) > 125:
            raise ValueError("a ping payload may be at most 125 bytes")
        self._send_frame(OP_PING, data)

    def send_pong(self, data: BytesLike = b"") -> None:
        """Queue an unsolicited Pong frame (a heartbeat, RFC 6455 5.5.3).

        Raises:
            InvalidState: if the connection is not open.
            ValueError: if the payload is longer than 125 bytes.
        """
        self._check_open()
        if len(data) > 125:
            raise ValueError("a pong payload may be at most 125 bytes")
        self._send_frame(OP_PONG, data)

    def send_close(self, code: Optional[int] = 1000, reason: str = "") -> None:
        """Start the closing handshake (or answer the peer's, if not done).

        Args:
            code: a close code that may be sent (1000-1003, 1007-1014,
                3000-4999), or ``None`` for a Close frame without a code.
            reason: a short UTF-8 explanation (at most 123 bytes).

        Raises:
            InvalidState: if a Close frame was already sent.
            ValueError: if the code may not be sent or the reason is too long.
        """
        if self.close_sent is not None or self.eof_sent:
            raise InvalidState("a close frame was already sent")
        payload = serialize_close(code, reason)  # validates before changing state
        self._queue_close(code, reason, payload)
        if self.close_rcvd is None:
            self.close_rcvd_then_sent = False
            self.state = _CLOSING

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection locally: send a Close frame and close TCP.

        Use it when the connection must end at once without waiting for the
        peer, for example 1011 when keepalive pings go unanswered.
        """
        if self.state is _CLOSED:
            return
        payload = serialize_close(code, reason)  # validates before changing state
        self.fail_code = code
        self.fail_reason = reason
        if self.close_sent is None:
            self._queue_close(code, reason, payload)
        self.state = _CLOSED
        self._reset_message()
        self._send_eof()

    def _queue_close(
        self, code: Optional[int], reason: str, payload: Optional[bytes] = None
    ) -> None:
        if payload is None:
            payload = serialize_close(code, reason)
        self.close_sent = (CloseCode.NO_STATUS_RCVD if code is None else code, reason)
        if self.debug:
            self.logger.debug("> CLOSE %s %s", code, reason)
        self._send_frame(OP_CLOSE, payload)

    def _send_eof(self) -> None:
        if not self.eof_sent:
            self.eof_sent = True
            self._out.append(_EOF)


def _public_reason(exc: ProtocolError) -> str:
    """The close reason sent to the peer: short, and never internal details."""
    text = str(exc)
    data = text.encode("utf-8")
    if len(data) > 123:
        text = data[:120].decode("utf-8", "ignore") + "..."
    return text
