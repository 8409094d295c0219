"""The protocol-violation table: what the peer may do wrong and how we react.

Each row of :data:`VIOLATIONS` is raw bytes that break RFC 6455 or RFC 7692,
fed to a :class:`~wsocket.protocol.Protocol` of the side that would receive
them (a server gets masked frames, as a client sends them). Whatever the
violation, the reaction is the same (RFC 6455 section 7.1.7, "Fail the
WebSocket Connection"): :attr:`Protocol.failure` holds the cause, a Close
frame with the row's code is queued followed by the end of the TCP stream,
the state is CLOSED, and any later input is ignored.

:data:`ACCEPTED` holds the opposite: inputs that look suspicious but are
valid, with the events they must produce.

``docs/topics/protocol-errors.rst`` presents both tables. It is written from
the rows below (run this file with Python to print the tables) and a test
checks that the page and the rows agree.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from wsocket.deflate import PerMessageDeflate
from wsocket.exceptions import (
    ConnectionClosedError,
    PayloadTooBig,
    ProtocolError,
)
from wsocket.protocol import (
    CLIENT,
    SERVER,
    BinaryMessage,
    Close,
    Event,
    Ping,
    Pong,
    Protocol,
    Side,
    State,
    TextMessage,
)

# Every test here runs on both receive paths: the C scanner and its
# pure-Python twin (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("receive_path")


DOC = Path(__file__).resolve().parent.parent / "docs" / "topics" / "protocol-errors.rst"

MASK = bytes.fromhex("37fa213d")
LIMIT = 1000  # max_message_size of the rows that test it


# -- building raw frames, independently of wsocket.frames ----------------------


def header(
    opcode: int, length: int, *, fin: bool = True, rsv: int = 0, masked: bool
) -> bytes:
    """A frame header; ``rsv`` is a 3-bit value, RSV1 being 0b100."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if masked else 0
    if length < 126:
        data = struct.pack("!BB", b0, mbit | length)
    elif length < 65536:
        data = struct.pack("!BBH", b0, mbit | 126, length)
    else:
        data = struct.pack("!BBQ", b0, mbit | 127, length)
    return data + (MASK if masked else b"")


def masked(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0
) -> bytes:
    """A frame as a client sends it."""
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return header(opcode, len(payload), fin=fin, rsv=rsv, masked=True) + body


def plain(
    opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0
) -> bytes:
    """A frame as a server sends it."""
    return header(opcode, len(payload), fin=fin, rsv=rsv, masked=False) + payload


def deflate(data: bytes, *, final: bool = True) -> bytes:
    """Compress a whole message (or its first fragment) as RFC 7692 7.2.1 says."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if final else out


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0b100, 0b010, 0b001


# -- the violation table -------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One way for the peer to break the protocol.

    Attributes:
        id: short name, used as the pytest id.
        description: what the peer did; one row of the documentation table.
        side: the side that receives ``chunks``.
        chunks: the bytes received, in the chunks they arrive in.
        code: the close code the connection must be failed with.
        exception: the class of :attr:`Protocol.failure`.
        deflate: whether permessage-deflate was negotiated.
        max_message_size: the receiver's limit.
        events: the events produced before the violation was detected.
    """

    id: str
    description: str
    side: Side
    chunks: tuple[bytes, ...]
    code: int
    exception: type = ProtocolError
    deflate: bool = False
    max_message_size: Optional[int] = LIMIT
    events: tuple[Event, ...] = ()


def partial(frame: bytes, payload_bytes: int) -> bytes:
    """The first ``payload_bytes`` of a masked frame's payload, with its header."""
    length = frame[1] & 0x7F
    head = 2 + (2 if length == 126 else 8 if length == 127 else 0) + 4
    return frame[: head + payload_bytes]


def _rows() -> list[Violation]:
    rows: list[Violation] = []

    def add(
        id: str,
        description: str,
        *chunks: bytes,
        code: int = 1002,
        side: Side = SERVER,
        **kwargs: object,
    ) -> None:
        rows.append(Violation(id, description, side, chunks, code, **kwargs))  # type: ignore[arg-type]

    # RFC 6455 5.2: "RSV1, RSV2, RSV3: 1 bit each. MUST be 0 unless an
    # extension is negotiated that defines meanings for non-zero values."
    for name, bit in (("RSV1", RSV1), ("RSV2", RSV2), ("RSV3", RSV3)):
        low = name.lower()
        add(
            f"{low}-text",
            f"{name} set on a text frame, no extension negotiated",
            masked(TEXT, b"hi", rsv=bit),
        )
        add(
            f"{low}-ping",
            f"{name} set on a ping frame, no extension negotiated",
            masked(PING, b"hi", rsv=bit),
        )
    add(
        "rsv1-binary-to-client",
        "RSV1 set on a binary frame sent to a client, no extension negotiated",
        plain(BINARY, b"hi", rsv=RSV1),
        side=CLIENT,
    )
    add(
        "rsv3-close",
        "RSV3 set on a close frame, no extension negotiated",
        masked(CLOSE, close_payload(1000), rsv=RSV3),
    )

    # RFC 7692 6: permessage-deflate gives a meaning to RSV1 on the first
    # frame of a data message only.
    add(
        "deflate-rsv1-continuation",
        "RSV1 set on a continuation frame, permessage-deflate negotiated",
        masked(TEXT, b"ab", fin=False),
        masked(CONT, deflate(b"cd"), rsv=RSV1),
        deflate=True,
    )
    add(
        "deflate-rsv1-compressed-continuation",
        "RSV1 set on the continuation of a compressed message",
        masked(BINARY, deflate(b"ab", final=False), fin=False, rsv=RSV1),
        masked(CONT, deflate(b"cd"), rsv=RSV1),
        deflate=True,
    )
    add(
        "deflate-rsv1-ping",
        "RSV1 set on a ping frame, permessage-deflate negotiated",
        masked(PING, b"hi", rsv=RSV1),
        deflate=True,
    )
    add(
        "deflate-rsv1-close",
        "RSV1 set on a close frame, permessage-deflate negotiated",
        masked(CLOSE, close_payload(1000), rsv=RSV1),
        deflate=True,
    )
    add(
        "deflate-rsv2-text",
        "RSV2 set on a text frame, permessage-deflate negotiated",
        masked(TEXT, deflate(b"hi"), rsv=RSV1 | RSV2),
        deflate=True,
    )
    add(
        "deflate-rsv3-binary-to-client",
        "RSV3 set on a binary frame sent to a client, permessage-deflate negotiated",
        plain(BINARY, b"hi", rsv=RSV3),
        deflate=True,
        side=CLIENT,
    )

    # RFC 6455 5.2: "If an unknown opcode is received, the receiving endpoint
    # MUST _Fail the WebSocket Connection_."
    for opcode in (0x3, 0x4, 0x5, 0x6, 0x7):
        add(
            f"opcode-{opcode:x}",
            f"Reserved non-control opcode {opcode:#x}",
            masked(opcode, b"hi"),
        )
    for opcode in (0xB, 0xC, 0xD, 0xE, 0xF):
        add(
            f"opcode-{opcode:x}",
            f"Reserved control opcode {opcode:#x}",
            masked(opcode, b"hi"),
        )
    add(
        "opcode-3-to-client",
        "Reserved opcode 0x3 sent to a client",
        plain(0x3),
        side=CLIENT,
    )

    # RFC 6455 5.5: "All control frames MUST have a payload length of 125
    # bytes or less and MUST NOT be fragmented."
    add(
        "fragmented-ping",
        "Ping frame without the FIN bit",
        masked(PING, b"hi", fin=False),
    )
    add(
        "fragmented-pong",
        "Pong frame without the FIN bit",
        masked(PONG, b"hi", fin=False),
    )
    add(
        "fragmented-close",
        "Close frame without the FIN bit",
        masked(CLOSE, close_payload(1000), fin=False),
    )
    add("ping-126", "Ping frame with a 126-byte payload", masked(PING, bytes(126)))
    add("pong-126", "Pong frame with a 126-byte payload", masked(PONG, bytes(126)))
    add(
        "close-126",
        "Close frame with a 126-byte payload",
        masked(CLOSE, close_payload(1000, b"x" * 124)),
    )
    add(
        "ping-126-header-only",
        "Ping frame announcing a 126-byte payload (header only)",
        header(PING, 126, masked=True),
    )

    # RFC 6455 5.4: fragments of a message arrive in order, one message at a
    # time; a continuation frame continues something.
    add(
        "continuation-first",
        "Continuation frame with no message to continue",
        masked(CONT, b"hi"),
    )
    add(
        "continuation-after-message",
        "Continuation frame after a complete message",
        masked(TEXT, b"done"),
        masked(CONT, b"more"),
        events=(TextMessage("done"),),
    )
    add(
        "text-in-fragmented-text",
        "Text frame while a fragmented text message is in progress",
        masked(TEXT, b"a", fin=False),
        masked(TEXT, b"b"),
    )
    add(
        "binary-in-fragmented-text",
        "Binary frame while a fragmented text message is in progress",
        masked(TEXT, b"a", fin=False),
        masked(BINARY, b"b"),
    )
    add(
        "text-in-fragmented-binary-to-client",
        "Text frame sent to a client while a fragmented binary message is in progress",
        plain(BINARY, b"a", fin=False),
        plain(TEXT, b"b"),
        side=CLIENT,
    )

    # RFC 6455 5.1: "a client MUST mask all frames that it sends to the
    # server" and "A server MUST NOT mask any frames that it sends to the
    # client"; either side fails the connection otherwise.
    add("unmasked-text", "Unmasked text frame from a client", plain(TEXT, b"hi"))
    add("unmasked-ping", "Unmasked ping frame from a client", plain(PING, b"hi"))
    add(
        "masked-to-client",
        "Masked text frame from a server",
        masked(TEXT, b"hi"),
        side=CLIENT,
    )
    add(
        "masked-close-to-client",
        "Masked close frame from a server",
        masked(CLOSE, close_payload(1000)),
        side=CLIENT,
    )

    # RFC 6455 5.2: "the most significant bit MUST be 0".
    add(
        "length-msb",
        "64-bit payload length with the most significant bit set",
        bytes.fromhex("82ff 8000000000000000") + MASK,
    )
    add(
        "length-msb-to-client",
        "64-bit payload length with the most significant bit set, sent to a client",
        bytes.fromhex("827f ffffffffffffffff"),
        side=CLIENT,
    )

    # RFC 6455 5.5.1 and 7.4: the body of a Close frame.
    add("close-1-byte", "Close frame with a 1-byte payload", masked(CLOSE, b"\x03"))
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        add(
            f"close-code-{code}",
            f"Close frame with code {code}",
            masked(CLOSE, close_payload(code)),
        )
    add(
        "close-code-1005-to-client",
        "Close frame with code 1005 sent to a client",
        plain(CLOSE, close_payload(1005)),
        side=CLIENT,
    )
    add(
        "close-reason-utf8",
        "Close frame whose reason is not valid UTF-8",
        masked(CLOSE, close_payload(1000, b"bye\xff")),
        code=1007,
    )
    add(
        "close-reason-truncated-utf8",
        "Close frame whose reason ends inside a UTF-8 sequence",
        masked(CLOSE, close_payload(1000, b"caf\xc3")),
        code=1007,
    )

    # RFC 6455 8.1: "When an endpoint is to interpret a byte stream as UTF-8
    # but finds that the byte stream is not, in fact, a valid UTF-8 stream,
    # that endpoint MUST _Fail the WebSocket Connection_." 1007 is the code
    # for "data within a message that was not consistent with the type".
    add(
        "text-utf8",
        "Text frame with invalid UTF-8",
        masked(TEXT, b"Hello \xff world"),
        code=1007,
    )
    add(
        "text-utf8-to-client",
        "Text frame with invalid UTF-8 sent to a client",
        plain(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
        side=CLIENT,
        code=1007,
    )
    add(
        "text-overlong",
        "Text frame with an overlong encoding (c0 af)",
        masked(TEXT, b"/\xc0\xaf"),
        code=1007,
    )
    add(
        "text-above-max",
        "Text frame with a code point above U+10FFFF",
        masked(TEXT, b"\xf4\x90\x80\x80"),
        code=1007,
    )
    add(
        "text-surrogate",
        "Text frame with an encoded surrogate (ed a0 80)",
        masked(TEXT, b"\xed\xa0\x80"),
        code=1007,
    )
    add(
        "fragments-utf8",
        "Invalid UTF-8 split across fragments",
        masked(TEXT, b"ab\xed", fin=False),
        masked(CONT, b"\xa0\x80cd"),
        code=1007,
    )
    add(
        "first-fragment-utf8",
        "Invalid UTF-8 in the first fragment, before the message ends",
        masked(TEXT, b"ok \xff", fin=False),
        code=1007,
    )
    add(
        "partial-frame-above-max",
        "Invalid UTF-8 (f4 90 80 80) in the received part of an incomplete text frame",
        partial(masked(TEXT, b"ab\xf4\x90\x80\x80" + b"x" * 94), 6),
        code=1007,
    )
    add(
        "partial-frame-surrogate",
        "Invalid UTF-8 (ed a0 80) in the received part of an incomplete text frame",
        partial(masked(TEXT, b"ab\xed\xa0\x80" + b"x" * 95), 5),
        code=1007,
    )
    add(
        "partial-frame-surrogate-prefix",
        "Incomplete text frame ending with ed a0, which only starts surrogates",
        partial(masked(TEXT, b"ab\xed\xa0\x80" + b"x" * 95), 4),
        code=1007,
    )
    add(
        "partial-frame-utf8-to-client",
        "Invalid UTF-8 in the received part of an incomplete text frame to a client",
        plain(TEXT, b"ab\xf4\x90\x80\x80" + b"x" * 200)[:10],
        side=CLIENT,
        code=1007,
    )
    add(
        "partial-continuation-utf8",
        "Invalid UTF-8 in the received part of an incomplete continuation frame",
        masked(TEXT, b"ab", fin=False),
        partial(masked(CONT, b"cd\xff" + b"x" * 200), 3),
        code=1007,
    )
    add(
        "truncated-utf8",
        "Text frame ending inside a UTF-8 sequence",
        masked(TEXT, b"ab\xe2\x82"),
        code=1007,
    )
    add(
        "truncated-utf8-fragments",
        "Fragmented text message ending inside a UTF-8 sequence",
        masked(TEXT, b"ab\xe2", fin=False),
        masked(CONT, b"\x82"),
        code=1007,
    )
    add(
        "deflate-text-utf8",
        "Compressed text message with invalid UTF-8",
        masked(TEXT, deflate(b"ab\xffcd" * 10), rsv=RSV1),
        code=1007,
        deflate=True,
    )
    add(
        "deflate-invalid-data",
        "Compressed message that is not valid DEFLATE data",
        masked(BINARY, b"\xff\xff\xff\xff", rsv=RSV1),
        code=1007,
        deflate=True,
    )

    # A security limit, not an RFC rule: 1009 is "a message that is too big
    # for it to process".
    add(
        "too-big",
        f"Message over max_message_size ({LIMIT}) in one frame",
        masked(BINARY, bytes(LIMIT + 1)),
        code=1009,
        exception=PayloadTooBig,
    )
    add(
        "too-big-header-only",
        "Frame header announcing a message over max_message_size (header only)",
        header(BINARY, 2**40, masked=True),
        code=1009,
        exception=PayloadTooBig,
    )
    add(
        "too-big-to-client",
        "Text message over max_message_size sent to a client",
        plain(TEXT, b"x" * (LIMIT + 1)),
        side=CLIENT,
        code=1009,
        exception=PayloadTooBig,
    )
    add(
        "too-big-fragments",
        "Message over max_message_size across fragments",
        masked(TEXT, b"a" * 600, fin=False),
        masked(CONT, b"b" * 300, fin=False),
        masked(CONT, b"c" * 101),
        code=1009,
        exception=PayloadTooBig,
    )
    add(
        "too-big-compressed",
        "Compressed message inflating over max_message_size",
        masked(BINARY, deflate(bytes(100 * LIMIT)), rsv=RSV1),
        code=1009,
        exception=PayloadTooBig,
        deflate=True,
    )
    add(
        "too-big-compressed-fragments",
        "Compressed fragments inflating over max_message_size together",
        masked(BINARY, deflate(bytes(LIMIT), final=False), fin=False, rsv=RSV1),
        masked(CONT, deflate(b"\x01")),
        code=1009,
        exception=PayloadTooBig,
        deflate=True,
    )
    return rows


VIOLATIONS: list[Violation] = _rows()


# -- the accepted table --------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """Input that is valid, however unusual.

    Attributes:
        id: short name, used as the pytest id.
        description: what the peer did; one row of the documentation table.
        side: the side that receives ``chunks``.
        chunks: the bytes received, in the chunks they arrive in.
        events: the events they must produce.
        replies: ``(opcode, payload)`` of each frame the receiver answers with.
        deflate: whether permessage-deflate was negotiated.
        max_message_size: the receiver's limit.
    """

    id: str
    description: str
    side: Side
    chunks: tuple[bytes, ...]
    events: tuple[Event, ...]
    replies: tuple[tuple[int, bytes], ...] = ()
    deflate: bool = False
    max_message_size: Optional[int] = LIMIT


def _cut(frame: bytes, at: int) -> tuple[bytes, bytes]:
    return frame[:at], frame[at:]


EURO = "€".encode()  # e2 82 ac
GRIN = "😀".encode()  # f0 9f 98 80

ACCEPTED: list[Accepted] = [
    Accepted(
        "utf8-split-fragments",
        "Valid UTF-8 split inside a code point across fragments",
        SERVER,
        (masked(TEXT, b"price: " + EURO[:1], fin=False), masked(CONT, EURO[1:] + b"5")),
        (TextMessage("price: €5"),),
    ),
    Accepted(
        "utf8-four-fragments",
        "A 4-byte code point split over four fragments",
        SERVER,
        tuple(
            masked(TEXT if i == 0 else CONT, GRIN[i : i + 1], fin=i == 3)
            for i in range(4)
        ),
        (TextMessage("😀"),),
    ),
    Accepted(
        "utf8-split-chunks",
        "Valid UTF-8 split inside a code point across reads of one frame",
        SERVER,
        _cut(masked(TEXT, b"ab" + EURO + b"cd"), 6 + 3),
        (TextMessage("ab€cd"),),
    ),
    Accepted(
        "utf8-max-split-chunks",
        "U+10FFFF split inside the code point across reads of one frame",
        CLIENT,
        _cut(plain(TEXT, b"\xf4\x8f\xbf\xbf!"), 2 + 2),
        (TextMessage("\U0010ffff!"),),
    ),
    Accepted(
        "utf8-ed-9f",
        "ed 9f bf (U+D7FF, just below the surrogates) split across reads",
        SERVER,
        _cut(masked(TEXT, b"\xed\x9f\xbf"), 6 + 2),
        (TextMessage("\ud7ff"),),
    ),
    Accepted(
        "noncharacter",
        "Noncharacters U+FFFE and U+FFFF in a text frame",
        SERVER,
        (masked(TEXT, "\ufffe\uffff".encode()),),
        (TextMessage("\ufffe\uffff"),),
    ),
    Accepted(
        "empty-fragments",
        "A text message made of empty fragments",
        SERVER,
        (masked(TEXT, b"", fin=False), masked(CONT, b"", fin=False), masked(CONT, b"")),
        (TextMessage(""),),
    ),
    Accepted(
        "empty-first-fragment",
        "An empty first fragment followed by data",
        CLIENT,
        (
            plain(BINARY, b"", fin=False),
            plain(CONT, b"data", fin=False),
            plain(CONT, b""),
        ),
        (BinaryMessage(b"data"),),
    ),
    Accepted(
        "ping-125",
        "Ping frame with a 125-byte payload",
        SERVER,
        (masked(PING, bytes(range(125))),),
        (Ping(bytes(range(125))),),
        replies=((PONG, bytes(range(125))),),
    ),
    Accepted(
        "ping-125-to-client",
        "Ping frame with a 125-byte payload sent to a client",
        CLIENT,
        (plain(PING, b"p" * 125),),
        (Ping(b"p" * 125),),
        replies=((PONG, b"p" * 125),),
    ),
    Accepted(
        "pong-125",
        "Unsolicited pong frame with a 125-byte payload",
        SERVER,
        (masked(PONG, bytes(125)),),
        (Pong(bytes(125)),),
    ),
    Accepted(
        "control-between-fragments",
        "Ping, pong and ping between the fragments of a message",
        SERVER,
        (
            masked(TEXT, b"frag", fin=False),
            masked(PING, b"1"),
            masked(CONT, b"men", fin=False),
            masked(PONG, b"2"),
            masked(PING, b"3"),
            masked(CONT, b"ted"),
        ),
        (Ping(b"1"), Pong(b"2"), Ping(b"3"), TextMessage("fragmented")),
        replies=((PONG, b"1"), (PONG, b"3")),
    ),
    Accepted(
        "close-1000-reason",
        "Close frame with code 1000 and a reason",
        SERVER,
        (masked(CLOSE, close_payload(1000, "fin ✓".encode())),),
        (Close(1000, "fin ✓"),),
        replies=((CLOSE, close_payload(1000, "fin ✓".encode())),),
    ),
    Accepted(
        "close-123-byte-reason",
        "Close frame with a 123-byte reason, the most that fits",
        CLIENT,
        (plain(CLOSE, close_payload(1001, b"r" * 123)),),
        (Close(1001, "r" * 123),),
        replies=((CLOSE, close_payload(1001, b"r" * 123)),),
    ),
    Accepted(
        "close-empty",
        "Close frame without a payload",
        SERVER,
        (masked(CLOSE),),
        (Close(1005, ""),),
        replies=((CLOSE, b""),),
    ),
    Accepted(
        "close-3000",
        "Close frame with code 3000",
        SERVER,
        (masked(CLOSE, close_payload(3000)),),
        (Close(3000, ""),),
        replies=((CLOSE, close_payload(3000)),),
    ),
    Accepted(
        "close-4999",
        "Close frame with code 4999",
        CLIENT,
        (plain(CLOSE, close_payload(4999, b"app")),),
        (Close(4999, "app"),),
        replies=((CLOSE, close_payload(4999, b"app")),),
    ),
    Accepted(
        "close-1014",
        "Close frame with code 1014, registered after RFC 6455",
        SERVER,
        (masked(CLOSE, close_payload(1014)),),
        (Close(1014, ""),),
        replies=((CLOSE, close_payload(1014)),),
    ),
    Accepted(
        "close-mid-message",
        "Close frame between the fragments of a message",
        SERVER,
        (masked(TEXT, b"unfinished", fin=False), masked(CLOSE, close_payload(1000))),
        (Close(1000, ""),),
        replies=((CLOSE, close_payload(1000)),),
    ),
    Accepted(
        "at-limit",
        f"Message of exactly max_message_size ({LIMIT}) bytes over three fragments",
        SERVER,
        (
            masked(BINARY, bytes(500), fin=False),
            masked(CONT, bytes(0), fin=False),
            masked(CONT, bytes(500)),
        ),
        (BinaryMessage(bytes(LIMIT)),),
    ),
    Accepted(
        "deflate-uncompressed",
        "Uncompressed message, permessage-deflate negotiated",
        SERVER,
        (masked(TEXT, b"as is"),),
        (TextMessage("as is"),),
        deflate=True,
    ),
    Accepted(
        "deflate-fragments",
        "Compressed message in fragments, RSV1 on the first one only",
        CLIENT,
        (
            plain(TEXT, deflate(b"squeeze ", final=False), fin=False, rsv=RSV1),
            plain(PING, b"mid"),
            plain(CONT, b"", fin=False),
            plain(CONT, b"\x00"),
        ),
        (Ping(b"mid"), TextMessage("squeeze ")),
        replies=((PONG, b"mid"),),
        deflate=True,
    ),
    Accepted(
        "deflate-at-limit",
        "Compressed message inflating to exactly max_message_size",
        SERVER,
        (masked(BINARY, deflate(bytes(LIMIT)), rsv=RSV1),),
        (BinaryMessage(bytes(LIMIT)),),
        deflate=True,
    ),
]


# -- running a row -------------------------------------------------------------


def new_protocol(
    side: Side, deflate: bool, max_message_size: Optional[int]
) -> Protocol:
    extension = PerMessageDeflate(is_server=side is SERVER) if deflate else None
    return Protocol(side, max_message_size=max_message_size, deflate=extension)


def feed(protocol: Protocol, chunks: Sequence[bytes], mode: str) -> None:
    if mode == "bytewise":
        chunks = [bytes([b]) for b in b"".join(chunks)]
    for chunk in chunks:
        protocol.receive_data(chunk)


def decode_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, unmasked payload)`` of each frame in ``data``; all have FIN."""
    frames = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b0 & 0xF0 == 0x80, "FIN set, no reserved bits"
        n = b1 & 0x7F
        pos += 2
        assert n < 126, "control frames only"
        key = b"\x00" * 4
        if b1 & 0x80:
            key = data[pos : pos + 4]
            pos += 4
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos : pos + n]))
        assert len(payload) == n
        pos += n
        frames.append((b0 & 0x0F, payload))
    return frames


def later_input(side: Side) -> bytes:
    """A valid text frame for ``side``, to show input after failing is ignored."""
    return masked(TEXT, b"later") if side is SERVER else plain(TEXT, b"later")


@pytest.mark.parametrize("mode", ["chunks", "bytewise"])
@pytest.mark.parametrize("row", VIOLATIONS, ids=[row.id for row in VIOLATIONS])
def test_violation(row: Violation, mode: str) -> None:
    protocol = new_protocol(row.side, row.deflate, row.max_message_size)
    feed(protocol, row.chunks, mode)  # never raises

    failure = protocol.failure
    assert type(failure) is row.exception, failure
    assert isinstance(failure, ProtocolError)
    assert failure.code == row.code
    assert protocol.events_received() == list(row.events)

    # Exactly one Close frame with the code, then the end of the TCP stream.
    out = protocol.data_to_send()
    assert len(out) == 2, out
    assert out[1] == b""
    [(opcode, payload)] = decode_frames(out[0])
    assert opcode == CLOSE
    assert int.from_bytes(payload[:2], "big") == row.code
    payload[2:].decode("utf-8")  # the reason is valid UTF-8
    assert len(payload) <= 125
    assert bool(out[0][1] & 0x80) is (row.side is CLIENT)  # masked by clients only

    assert protocol.state is State.CLOSED
    assert protocol.close_code == row.code
    exc = protocol.close_exc()
    assert isinstance(exc, ConnectionClosedError)
    assert exc.code == row.code
    assert exc.__cause__ is failure

    # RFC 6455 7.1.7: nothing more is processed or sent.
    protocol.receive_data(later_input(row.side))
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []
    assert protocol.failure is failure
    assert protocol.state is State.CLOSED


@pytest.mark.parametrize("mode", ["chunks", "bytewise"])
@pytest.mark.parametrize("row", ACCEPTED, ids=[row.id for row in ACCEPTED])
def test_accepted(row: Accepted, mode: str) -> None:
    protocol = new_protocol(row.side, row.deflate, row.max_message_size)
    feed(protocol, row.chunks, mode)
    assert protocol.failure is None
    assert protocol.events_received() == list(row.events)
    out = protocol.data_to_send()
    closing = any(isinstance(event, Close) for event in row.events)
    if closing:
        assert protocol.state is State.CLOSED
        # RFC 6455 7.1.1: the server closes TCP first, the client waits.
        if row.side is SERVER:
            assert out[-1] == b""
            out = out[:-1]
        assert b"" not in out
    else:
        assert protocol.state is State.OPEN
    assert decode_frames(b"".join(out)) == list(row.replies)
    for chunk in out:
        assert bool(chunk[1] & 0x80) is (row.side is CLIENT)


def test_row_ids_and_descriptions_are_unique() -> None:
    for table in (VIOLATIONS, ACCEPTED):
        ids = [row.id for row in table]
        descriptions = [row.description for row in table]
        assert len(set(ids)) == len(ids)
        assert len(set(descriptions)) == len(descriptions)


def test_violation_rows_cover_both_sides_and_every_code() -> None:
    assert {row.side for row in VIOLATIONS} == {SERVER, CLIENT}
    assert {row.code for row in VIOLATIONS} == {1002, 1007, 1009}
    assert {row.exception for row in VIOLATIONS} == {ProtocolError, PayloadTooBig}


def test_violation_rows_would_be_valid_without_the_violation() -> None:
    # Guard against rows that fail for an unintended reason: the same frames
    # with the defect removed are accepted. Spot-check a few by construction.
    protocol = new_protocol(SERVER, False, LIMIT)
    feed(
        protocol,
        [
            masked(TEXT, b"hi"),
            masked(PING, b"hi"),
            masked(PONG, bytes(125)),
            masked(BINARY, bytes(LIMIT)),
            masked(TEXT, b"ab\xe2", fin=False),
            masked(CONT, b"\x82\xac"),
        ],
        "chunks",
    )
    assert protocol.failure is None
    assert protocol.events_received() == [
        TextMessage("hi"),
        Ping(b"hi"),
        Pong(bytes(125)),
        BinaryMessage(bytes(LIMIT)),
        TextMessage("ab€"),
    ]


# -- the documentation page ----------------------------------------------------

EXCEPTION_NAMES = {ProtocolError: "ProtocolError", PayloadTooBig: "PayloadTooBig"}


def violation_cells(row: Violation) -> tuple[str, str, str]:
    return (
        row.description,
        str(row.code),
        f":exc:`~wsocket.exceptions.{EXCEPTION_NAMES[row.exception]}`",
    )


def accepted_cells(row: Accepted) -> tuple[str, str]:
    return (row.description, ", ".join(describe_event(event) for event in row.events))


def describe_event(event: Event) -> str:
    if isinstance(event, TextMessage):
        return "TextMessage"
    if isinstance(event, BinaryMessage):
        return "BinaryMessage"
    if isinstance(event, Close):
        return f"Close({event.code})"
    return type(event).__name__


def render_list_table(
    name: str, headers: Sequence[str], rows: Sequence[Sequence[str]], widths: str
) -> str:
    lines = [
        ".. list-table::",
        f"   :name: {name}",
        "   :header-rows: 1",
        f"   :widths: {widths}",
        "",
    ]
    for cells in [headers, *rows]:
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {cell}" for cell in cells[1:])
    return "\n".join(lines) + "\n"


def render_tables() -> dict[str, str]:
    return {
        "protocol-violations": render_list_table(
            "protocol-violations",
            ("What the peer sent", "Close code", "Failure"),
            [violation_cells(row) for row in VIOLATIONS],
            "70 10 20",
        ),
        "protocol-accepted": render_list_table(
            "protocol-accepted",
            ("What the peer sent", "Events"),
            [accepted_cells(row) for row in ACCEPTED],
            "70 30",
        ),
    }


def parse_list_table(text: str, name: str) -> list[tuple[str, ...]]:
    """Return the body rows of the list-table with ``:name: name``."""
    start = text.find(f":name: {name}\n")
    assert start >= 0, f"no list-table named {name}"
    body = text[start:]
    body = body[body.index("\n\n") + 2 :]
    rows: list[list[str]] = []
    for line in body.splitlines():
        if line.startswith("   * - "):
            rows.append([line[len("   * - ") :].strip()])
        elif line.startswith("     - "):
            rows[-1].append(line[len("     - ") :].strip())
        elif line.startswith("       ") and rows:
            rows[-1][-1] += " " + line.strip()  # a wrapped cell
        else:
            break
    assert rows, f"list-table {name} is empty"
    return [tuple(row) for row in rows[1:]]  # drop the header row


def test_doc_violation_table_matches_the_rows() -> None:
    documented = parse_list_table(DOC.read_text("utf-8"), "protocol-violations")
    expected = [violation_cells(row) for row in VIOLATIONS]
    missing = [cells for cells in expected if cells not in documented]
    extra = [cells for cells in documented if cells not in expected]
    assert not missing, f"rows missing from {DOC.name}: {missing}"
    assert not extra, f"rows in {DOC.name} that no test checks: {extra}"
    assert len(documented) == len(expected)


def test_doc_accepted_table_matches_the_rows() -> None:
    documented = parse_list_table(DOC.read_text("utf-8"), "protocol-accepted")
    expected = [accepted_cells(row) for row in ACCEPTED]
    assert sorted(documented) == sorted(expected)


def test_doc_table_parser_detects_drift() -> None:
    # The comparison above is only as good as the parser: a changed code or
    # description in the rendered page must show up as a difference.
    page = render_tables()["protocol-violations"]
    assert parse_list_table(page, "protocol-violations") == [
        violation_cells(row) for row in VIOLATIONS
    ]
    tampered = page.replace("\n     - 1007\n", "\n     - 1002\n", 1)
    assert tampered != page
    assert parse_list_table(tampered, "protocol-violations") != [
        violation_cells(row) for row in VIOLATIONS
    ]


if __name__ == "__main__":
    # Print the tables of docs/topics/protocol-errors.rst.
    for table in render_tables().values():
        print(table)
