"""WebSocket frames (RFC 6455 section 5): opcodes, close codes, parsing, building.

This module is part of the sans-I/O core: it turns bytes into :class:`Frame`
objects and back, and never touches a socket. The frame header is read in one
place, :func:`parse_header`: :meth:`Frame.parse` calls it, and so does
:class:`wsocket.protocol.Protocol` on its fast path, which then only adds the
rules that depend on the connection (reserved bits and extensions, message
boundaries, the message size limit).

Masking uses the C accelerator ``wsocket._speedups`` when it was built, and
the pure-Python :func:`wsocket.utils.apply_mask` otherwise; both give the same
bytes. The same goes for :func:`scan_messages`, the receive path's common case
(whole single-frame messages) in one call: its pure-Python twin is
:func:`python_scan_messages`, which reads headers through :func:`parse_header`.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, List, Optional, Tuple, Union

from .exceptions import PayloadTooBig, ProtocolError

try:
    from ._speedups import apply_mask
except ImportError:  # pragma: no cover - depends on the build
    from .utils import apply_mask

__all__ = [
    "Opcode",
    "CloseCode",
    "Frame",
    "apply_mask",
    "build_header",
    "encode_frame",
    "parse_header",
    "scan_messages",
    "python_scan_messages",
    "parse_close",
    "serialize_close",
    "is_sendable_close_code",
    "is_valid_close_code",
    "DATA_OPCODES",
    "CONTROL_OPCODES",
    "OP_CONT",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "message_too_big",
]

BytesLike = Union[bytes, bytearray, memoryview]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 section 5.2); other values are reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset((Opcode.CONT, Opcode.TEXT, Opcode.BINARY))
CONTROL_OPCODES = frozenset((Opcode.CLOSE, Opcode.PING, Opcode.PONG))

# The opcodes as plain ints, for hot paths: comparing an int with an int is
# cheaper than with an IntEnum member.
OP_CONT = int(Opcode.CONT)  #: :attr:`Opcode.CONT` as a plain int.
OP_TEXT = int(Opcode.TEXT)  #: :attr:`Opcode.TEXT` as a plain int.
OP_BINARY = int(Opcode.BINARY)  #: :attr:`Opcode.BINARY` as a plain int.
OP_CLOSE = int(Opcode.CLOSE)  #: :attr:`Opcode.CLOSE` as a plain int.
OP_PING = int(Opcode.PING)  #: :attr:`Opcode.PING` as a plain int.
OP_PONG = int(Opcode.PONG)  #: :attr:`Opcode.PONG` as a plain int.


class CloseCode(IntEnum):
    """Close status codes (RFC 6455 section 7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005  # never sent on the wire
    ABNORMAL_CLOSURE = 1006  # never sent on the wire
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never sent on the wire


# Codes that may appear in a Close frame. RFC 6455 7.4.1 reserves 1004, and
# says 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
# control frame by an endpoint"; 1012-1014 were registered later with IANA.
# 3000-3999 are for libraries and frameworks, 4000-4999 for applications.
_WIRE_CODES = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)


def is_valid_close_code(code: int) -> bool:
    """Tell whether ``code`` may be carried by a Close frame (RFC 6455 7.4)."""
    return code in _WIRE_CODES or 3000 <= code <= 4999


# Sending and receiving allow the same codes.
is_sendable_close_code = is_valid_close_code


def build_header(
    opcode: int,
    length: int,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: Optional[bytes] = None,
) -> bytes:
    """Build a frame header (RFC 6455 section 5.2) with the minimal length encoding.

    Args:
        opcode: the frame's opcode.
        length: the payload length in bytes.
        fin: whether this is the final fragment of a message.
        rsv1: the RSV1 bit (set on the first frame of a compressed message).
        mask: a 4-byte masking key to include, or ``None`` for an unmasked frame.

    Returns:
        The header bytes, including the masking key when given.
    """
    b0 = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    mbit = 0x80 if mask is not None else 0
    if length < 126:
        header = bytes((b0, mbit | length))
    elif length < 65536:
        header = struct.pack("!BBH", b0, mbit | 126, length)
    else:
        header = struct.pack("!BBQ", b0, mbit | 127, length)
    if mask is not None:
        header += mask
    return header


def encode_frame(message: Union[str, bytes]) -> bytes:
    """Frame a whole message as one final, unmasked frame, as a server sends it.

    A ``str`` becomes a Text frame (encoded in UTF-8), ``bytes`` a Binary
    frame. A broadcast frames its message once with this and gives the
    result to each connection's :meth:`~wsocket.protocol.Protocol.send_prepared`.
    """
    if isinstance(message, str):
        payload = message.encode("utf-8")
        return build_header(OP_TEXT, len(payload)) + payload
    return build_header(OP_BINARY, len(message)) + message


def serialize_close(code: Optional[int] = 1000, reason: str = "") -> bytes:
    """Build the payload of a Close frame (RFC 6455 section 5.5.1).

    Args:
        code: the status code, or ``None`` for an empty payload.
        reason: a UTF-8 reason; the payload may not exceed 125 bytes.

    Raises:
        ValueError: if the code may not be sent or the reason is too long.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not is_sendable_close_code(code):
        raise ValueError(
            f"close code {code} may not be sent; use 1000 for a normal closure, "
            "1001 when going away, or an application code in 4000-4999"
        )
    data = reason.encode("utf-8")
    if len(data) > 123:
        raise ValueError("a close reason may be at most 123 bytes of UTF-8")
    return struct.pack("!H", code) + data


def parse_close(payload: BytesLike) -> Tuple[int, str]:
    """Parse the payload of a Close frame received from the peer.

    Returns:
        ``(code, reason)``; an empty payload gives ``(1005, "")``.

    Raises:
        ProtocolError: 1002 for a 1-byte payload or a code that may not be
            sent, 1007 for a reason that is not valid UTF-8.
    """
    n = len(payload)
    if n == 0:
        return CloseCode.NO_STATUS_RCVD, ""
    if n == 1:
        raise ProtocolError("close frame with a 1-byte payload")
    code = (payload[0] << 8) | payload[1]
    if not is_valid_close_code(code):
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = str(payload[2:], "utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("close reason is not valid UTF-8", 1007) from None
    return code, reason


def message_too_big(max_size: int) -> PayloadTooBig:
    """The error for a message (or frame) over ``max_size`` bytes (close code 1009)."""
    return PayloadTooBig(f"message exceeds the limit of {max_size} bytes")


def _check_opcode(opcode: int, fin: int, length: int) -> None:
    """Apply the opcode rules of RFC 6455 5.2 and 5.5 (any opcode above 2)."""
    # 5.2: opcodes 3-7 and 0xB-0xF are "reserved for further ... frames".
    if OP_BINARY < opcode < OP_CLOSE or opcode > OP_PONG:
        raise ProtocolError(f"reserved opcode {opcode:#x}")
    if opcode >= OP_CLOSE:
        # 5.5: "All control frames MUST have a payload length of 125 bytes
        # or less and MUST NOT be fragmented."
        if not fin:
            raise ProtocolError("fragmented control frame")
        if length > 125:
            raise ProtocolError("control frame payload longer than 125 bytes")


def parse_header(
    data: BytesLike, pos: int, end: int, mask: Optional[bool]
) -> Optional[Tuple[int, int, int, Optional[bytes]]]:
    """Read the header of the frame at ``data[pos:end]`` (RFC 6455 section 5.2).

    The one frame-header parser: :meth:`Frame.parse` and
    :class:`wsocket.protocol.Protocol` both read headers through it. It
    applies the rules that hold on any connection: the payload length's most
    significant bit, the masking policy, reserved opcodes and the limits of
    control frames. It does not look at the payload, nor at the RSV bits,
    whose meaning depends on the negotiated extensions.

    Args:
        data: buffered bytes.
        pos: where the frame starts in ``data``.
        end: where the buffered bytes end (usually ``len(data)``).
        mask: ``True`` if the frame must be masked (a server reading a
            client), ``False`` if it must not be, ``None`` to accept both.

    Returns:
        ``(b0, length, start, key)``: the first header byte (FIN, RSV bits
        and opcode), the payload length, the offset of the payload in
        ``data``, and the 4-byte masking key or ``None``. ``None`` instead of
        a tuple while the fixed part and the extended length are not all
        there yet. The masking key is not waited for, so that limits can be
        applied from the length alone: until ``end >= start`` it may be cut
        short, and the payload is not there anyway.

    Raises:
        ProtocolError: when the header breaks RFC 6455 (close code 1002).
    """
    if end - pos < 2:
        return None
    b0 = data[pos]
    b1 = data[pos + 1]
    length = b1 & 0x7F
    start = pos + 2
    if length >= 126:
        if length == 126:
            start = pos + 4
            if end < start:
                return None
            length = (data[pos + 2] << 8) | data[pos + 3]
        else:
            start = pos + 10
            if end < start:
                return None
            length = int.from_bytes(data[pos + 2 : start], "big")
            if length >> 63:
                # 5.2: "the most significant bit MUST be 0".
                raise ProtocolError("frame length has its most significant bit set")
    if b1 & 0x80:
        if mask is False:
            raise ProtocolError("frames from the server must not be masked")
        start += 4
        key: Optional[bytes] = bytes(data[start - 4 : start])
    else:
        if mask:
            # 5.1: "a client MUST mask all frames that it sends to the server".
            raise ProtocolError("frames from the client must be masked")
        key = None
    if b0 & 0x0F > OP_BINARY:
        _check_opcode(b0 & 0x0F, b0 & 0x80, length)
    return b0, length, start, key


def python_scan_messages(
    data: BytesLike,
    pos: int,
    mask: bool,
    max_size: Optional[int],
    events: List[Any],
    text_message: Callable[[str], Any],
    binary_message: Callable[[bytes], Any],
) -> int:
    """Turn the whole single-frame messages at ``data[pos:]`` into events.

    The common case of the receive path: frames with FIN set, no RSV bit
    and opcode text or binary, complete in ``data``. For each, in order, the
    payload is unmasked, text is decoded from UTF-8, and
    ``text_message(str)`` or ``binary_message(bytes)`` is appended to
    ``events``.

    Scanning stops, without an error, at the first frame that is anything
    else: incomplete, a control frame, a fragment, compressed, longer than
    ``max_size``, masked against ``mask``, breaking a rule of
    :func:`parse_header`, or text that is not valid UTF-8. The caller
    handles that frame on its general path, which reports the error with its
    close code; so both implementations agree on errors by construction.

    :func:`scan_messages` is this function in C when the extension was
    built; both give the same events and the same offset for any input.

    Args:
        data: buffered bytes (any contiguous bytes-like object).
        pos: where the first frame starts.
        mask: ``True`` if frames must be masked (a server reading a client),
            ``False`` if they must not be.
        max_size: largest payload handled here, or ``None`` for no limit.
        events: the list the events are appended to.
        text_message: called with each text message's :class:`str`.
        binary_message: called with each binary message's :class:`bytes`.

    Returns:
        The offset of the first frame not handled (``pos`` if none was).

    Raises:
        ValueError: if ``pos`` is outside ``data``.
    """
    end = len(data)
    if not 0 <= pos <= end:
        raise ValueError("pos is outside the buffer")
    view = memoryview(data)
    try:
        while end - pos >= 2:
            b0 = data[pos]
            # FIN, no RSV bit, text or binary: a whole uncompressed message.
            if b0 != 0x81 and b0 != 0x82:
                break
            try:
                header = parse_header(data, pos, end, mask)
            except ProtocolError:
                break
            if header is None:
                break
            _, length, start, key = header
            stop = start + length
            if stop > end or (max_size is not None and length > max_size):
                break
            if key is not None:
                payload = apply_mask(view[start:stop], key)
            else:
                payload = bytes(view[start:stop])
            if b0 == 0x81:
                try:
                    events.append(text_message(payload.decode("utf-8")))
                except UnicodeDecodeError:
                    break
            else:
                events.append(binary_message(payload))
            pos = stop
    finally:
        view.release()
    return pos


try:
    from ._speedups import scan_messages
except ImportError:  # pragma: no cover - depends on the build
    scan_messages = python_scan_messages


@dataclass
class Frame:
    """One WebSocket frame, as it travels on the wire (before reassembly).

    Attributes:
        opcode: the frame's :class:`Opcode`.
        payload: the unmasked payload.
        fin: the FIN bit (final fragment).
        rsv1, rsv2, rsv3: the reserved bits, used by extensions.
    """

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __str__(self) -> str:
        payload = self.payload
        shown = payload[:24].hex(" ") + (" ..." if len(payload) > 24 else "")
        try:
            name = Opcode(self.opcode).name
        except ValueError:
            name = hex(self.opcode)
        return (
            f"{name} {'fin' if self.fin else 'cont'} [{shown}] ({len(payload)} bytes)"
        )

    def serialize(self, *, mask: bool) -> bytes:
        """Return the frame's bytes; ``mask=True`` masks it with a random key."""
        key = os.urandom(4) if mask else None
        header = build_header(
            self.opcode, len(self.payload), fin=self.fin, rsv1=self.rsv1, mask=key
        )
        b0 = header[0] | (0x20 if self.rsv2 else 0) | (0x10 if self.rsv3 else 0)
        header = bytes((b0,)) + header[1:]
        if key is not None:
            return header + apply_mask(self.payload, key)
        return header + self.payload

    def check(self) -> None:
        """Check the rules every frame obeys whatever the connection's state.

        Raises:
            ProtocolError: for a reserved opcode, or a control frame that is
                fragmented or longer than 125 bytes (RFC 6455 5.5).
        """
        _check_opcode(self.opcode, self.fin, len(self.payload))

    @classmethod
    def parse(
        cls,
        data: BytesLike,
        *,
        mask: Optional[bool] = None,
        max_size: Optional[int] = None,
    ) -> Optional[Tuple[Frame, int]]:
        """Parse one frame from the start of ``data``.

        Args:
            data: buffered bytes.
            mask: ``True`` if the frame must be masked (a server reading a
                client), ``False`` if it must not be, ``None`` to accept both.
            max_size: largest payload accepted, or ``None`` for no limit.

        Returns:
            ``(frame, consumed)``, or ``None`` when ``data`` holds no complete
            frame yet.

        Raises:
            ProtocolError: when the frame breaks RFC 6455.
            PayloadTooBig: when the payload is longer than ``max_size``.
        """
        header = parse_header(data, 0, len(data), mask)
        if header is None:
            return None
        b0, length, pos, key = header
        if max_size is not None and length > max_size:
            raise message_too_big(max_size)
        stop = pos + length
        if len(data) < stop:
            return None
        payload: bytes
        if key is not None:
            payload = apply_mask(memoryview(data)[pos:stop], key)
        else:
            payload = bytes(data[pos:stop])
        frame = cls(
            b0 & 0x0F,
            payload,
            bool(b0 & 0x80),
            bool(b0 & 0x40),
            bool(b0 & 0x20),
            bool(b0 & 0x10),
        )
        return frame, stop
