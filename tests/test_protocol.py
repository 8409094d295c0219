"""Tests for wsocket.protocol: the state machine of both sides, without sockets.

A :class:`Pair` links a client :class:`Protocol` and a server
:class:`Protocol`: it moves what one queues with ``data_to_send()`` into the
other's ``receive_data()``, and turns the end-of-stream marker ``b""`` into
``receive_eof()``. Tests then assert on the events, the bytes on the wire and
the states on each side.
"""

from __future__ import annotations

import random
import struct
import zlib
from typing import Optional

import pytest

from wsocket.deflate import (
    DeflateOptions,
    PerMessageDeflate,
    client_accept,
    client_offer,
    server_negotiate,
)
from wsocket.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from wsocket.frames import encode_frame
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


MASK = bytes.fromhex("37fa213d")
MiB = 2**20


# -- helpers -------------------------------------------------------------------


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: Optional[bytes] = None,
) -> bytes:
    """Build a frame independently of wsocket.frames (RFC 6455 section 5.2)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mbit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        header = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is None:
        return header + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def decode_frames(data: bytes) -> list[tuple[int, bool, bool, bytes]]:
    """Split bytes into ``(opcode, fin, rsv1, unmasked payload)`` tuples."""
    frames = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        n = b1 & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        mask = None
        if b1 & 0x80:
            mask = data[pos : pos + 4]
            pos += 4
        payload = data[pos : pos + n]
        assert len(payload) == n, "truncated frame"
        pos += n
        if mask is not None:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        frames.append((b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), payload))
    return frames


def close_frame_code(data: bytes) -> Optional[int]:
    """Return the code of the single Close frame in ``data`` (None if empty)."""
    [(opcode, fin, _, payload)] = decode_frames(data)
    assert opcode == 0x8 and fin
    if not payload:
        return None
    return int.from_bytes(payload[:2], "big")


class Pair:
    """A client and a server Protocol linked by an in-memory network."""

    def __init__(
        self,
        *,
        max_message_size: Optional[int] = 2**20,
        client_deflate: Optional[PerMessageDeflate] = None,
        server_deflate: Optional[PerMessageDeflate] = None,
    ) -> None:
        self.client = Protocol(
            CLIENT, max_message_size=max_message_size, deflate=client_deflate
        )
        self.server = Protocol(
            SERVER, max_message_size=max_message_size, deflate=server_deflate
        )
        #: Every chunk that went over the wire, per direction.
        self.wire = {CLIENT: [], SERVER: []}  # type: dict

    def transfer(self, sender: Protocol, receiver: Protocol) -> list[bytes]:
        """Deliver what ``sender`` queued to ``receiver``; return those chunks."""
        chunks = sender.data_to_send()
        for chunk in chunks:
            if chunk == b"":
                receiver.receive_eof()
            else:
                receiver.receive_data(chunk)
        self.wire[sender.side].extend(chunks)
        return chunks

    def to_server(self) -> list[bytes]:
        return self.transfer(self.client, self.server)

    def to_client(self) -> list[bytes]:
        return self.transfer(self.server, self.client)


def negotiated(options: DeflateOptions) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """Negotiate permessage-deflate as a real handshake would."""
    result = server_negotiate([client_offer(options)], options)
    assert result is not None
    response, server_extension = result
    return client_accept(response, options), server_extension


def ends(p: Pair, side: Side) -> tuple[Protocol, Protocol]:
    """Return ``(sender, receiver)`` for messages sent by ``side``."""
    return (p.client, p.server) if side is CLIENT else (p.server, p.client)


def text_of_size(n: int) -> str:
    """An ASCII text of exactly ``n`` bytes."""
    return ("The quick brown fox jumps over the lazy dog. " * (n // 45 + 1))[:n]


# -- message sizes -------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 3 * MiB])
@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_message_sizes(size: int, kind: str, side: Side) -> None:
    p = Pair(max_message_size=None)
    sender, receiver = ends(p, side)
    if kind == "text":
        data: object = text_of_size(size)
        sender.send_text(data)  # type: ignore[arg-type]
        expected: Event = TextMessage(data)  # type: ignore[arg-type]
        opcode = 0x1
    else:
        data = random.Random(size).randbytes(size)
        sender.send_binary(data)  # type: ignore[arg-type]
        expected = BinaryMessage(data)  # type: ignore[arg-type]
        opcode = 0x2
    wire = b"".join(p.transfer(sender, receiver))
    assert receiver.events_received() == [expected]
    # The minimal length encoding of RFC 6455 section 5.2.
    length_field = wire[1] & 0x7F
    assert length_field == (size if size < 126 else 126 if size < 65536 else 127)
    assert wire[1] & 0x80 == (0x80 if side is CLIENT else 0)
    header_size = 2 if size < 126 else 4 if size < 65536 else 10
    header_size += 4 if side is CLIENT else 0
    assert len(wire) == header_size + size
    assert wire[0] == 0x80 | opcode
    assert receiver.failure is None
    assert receiver.data_to_send() == []


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_send_prepared_puts_the_shared_frame_on_the_wire(size: int) -> None:
    text = text_of_size(size)
    frame = encode_frame(text)
    p = Pair()
    assert p.server.send_prepared(frame) is True
    p.server.send_binary(b"after")  # ordinary sends go on behind it
    assert p.server.data_to_send() == [frame, build_frame(0x2, b"after")]
    p.client.receive_data(frame + build_frame(0x2, b"after"))
    assert p.client.events_received() == [TextMessage(text), BinaryMessage(b"after")]


def test_send_prepared_declines_where_the_frame_would_be_wrong() -> None:
    frame = encode_frame("hi")
    # A client masks its frames.
    assert Pair().client.send_prepared(frame) is False
    # Compression is negotiated: the connection frames (and compresses) itself.
    client_ext, server_ext = negotiated(DeflateOptions())
    p = Pair(client_deflate=client_ext, server_deflate=server_ext)
    assert p.server.send_prepared(frame) is False
    # A fragmented message is in progress: no other data frame may cut in.
    p = Pair()
    p.server.send_text("first half ", fin=False)
    assert p.server.send_prepared(frame) is False
    p.server.send_continuation("second half", fin=True)
    assert p.server.send_prepared(frame) is True
    p.to_client()
    assert p.client.events_received() == [
        TextMessage("first half second half"),
        TextMessage("hi"),
    ]
    # Declining queued nothing.
    assert not p.server.has_data_to_send()


def test_send_prepared_after_close_raises() -> None:
    p = Pair()
    p.server.send_close(1000)
    with pytest.raises(InvalidState):
        p.server.send_prepared(encode_frame("late"))


def test_text_accepts_str_and_utf8_bytes() -> None:
    p = Pair()
    p.client.send_text("héllo ☃")
    p.client.send_text("héllo ☃".encode())
    p.client.send_text(bytearray(b"plain"))
    p.to_server()
    assert p.server.events_received() == [
        TextMessage("héllo ☃"),
        TextMessage("héllo ☃"),
        TextMessage("plain"),
    ]


def test_binary_accepts_bytes_like() -> None:
    p = Pair()
    p.server.send_binary(bytearray(b"ab"))
    p.server.send_binary(memoryview(b"cd"))
    p.to_client()
    assert p.client.events_received() == [BinaryMessage(b"ab"), BinaryMessage(b"cd")]
    assert all(type(e.data) is bytes for e in p.client.events_received())


# -- fragmentation -------------------------------------------------------------


@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_fragmented_messages_with_interleaved_pings(side: Side) -> None:
    p = Pair()
    sender, receiver = ends(p, side)
    sender.send_text("Hé", fin=False)
    sender.send_ping(b"one")
    sender.send_continuation("llo, ", fin=False)
    sender.send_ping(b"two")
    sender.send_continuation("wörld", fin=True)
    sender.send_binary(b"\x00\x01", fin=False)
    sender.send_pong(b"unsolicited")
    sender.send_continuation(b"", fin=False)
    sender.send_continuation(b"\x02", fin=True)
    wire = b"".join(p.transfer(sender, receiver))
    assert [(op, fin) for op, fin, _, _ in decode_frames(wire)] == [
        (0x1, False),
        (0x9, True),
        (0x0, False),
        (0x9, True),
        (0x0, True),
        (0x2, False),
        (0xA, True),
        (0x0, False),
        (0x0, True),
    ]
    assert receiver.events_received() == [
        Ping(b"one"),
        Ping(b"two"),
        TextMessage("Héllo, wörld"),
        Pong(b"unsolicited"),
        BinaryMessage(b"\x00\x01\x02"),
    ]
    # Pongs for the pings, in order.
    replies = decode_frames(b"".join(receiver.data_to_send()))
    assert [(op, payload) for op, _, _, payload in replies] == [
        (0xA, b"one"),
        (0xA, b"two"),
    ]


def test_fragment_boundaries_inside_a_code_point() -> None:
    p = Pair()
    data = "€😀".encode()  # e2 82 ac f0 9f 98 80
    p.client.send_text(data[:1], fin=False)
    for i in range(1, len(data) - 1):
        p.client.send_continuation(data[i : i + 1], fin=False)
    p.client.send_continuation(data[-1:], fin=True)
    p.to_server()
    assert p.server.events_received() == [TextMessage("€😀")]
    assert p.server.failure is None


def test_byte_at_a_time() -> None:
    p = Pair(max_message_size=None)
    p.client.send_text("héllo wörld ☃ 😀" * 20)
    p.client.send_text("Fräg", fin=False)
    p.client.send_ping(b"ping")
    p.client.send_continuation("mënt", fin=True)
    p.client.send_binary(bytes(range(256)) * 300)  # 76800 bytes, 64-bit length
    p.client.send_text("")
    p.client.send_pong(b"")
    p.client.send_text(text_of_size(300))
    wire = b"".join(p.client.data_to_send())

    whole = Protocol(SERVER, max_message_size=None)
    whole.receive_data(wire)
    expected = whole.events_received()
    assert len(expected) == 7

    server = Protocol(SERVER, max_message_size=None)
    events: list[Event] = []
    for i in range(len(wire)):
        server.receive_data(wire[i : i + 1])
        events.extend(server.events_received())
    assert events == expected
    assert server.failure is None
    assert b"".join(server.data_to_send()) == b"".join(whole.data_to_send())


def test_send_continuation_accepts_str() -> None:
    p = Pair()
    p.server.send_binary(b"a", fin=False)
    p.server.send_continuation("é", fin=True)  # sent as its UTF-8 bytes
    p.to_client()
    assert p.client.events_received() == [BinaryMessage(b"a\xc3\xa9")]


# -- has_data_to_send ------------------------------------------------------------


def test_has_data_to_send_follows_data_to_send() -> None:
    p = Pair()
    assert not p.server.has_data_to_send()
    p.server.send_text("hi")
    assert p.server.has_data_to_send()
    # Asking does not take the bytes out.
    assert p.server.has_data_to_send()
    assert p.server.data_to_send() == [build_frame(0x1, b"hi")]
    assert not p.server.has_data_to_send()


def test_has_data_to_send_after_input_that_needs_a_reply() -> None:
    p = Pair()
    p.client.send_ping(b"?")
    p.to_server()
    assert p.server.has_data_to_send()  # the Pong
    assert p.server.data_to_send() == [build_frame(0xA, b"?")]
    # A message needs no reply.
    p.client.send_text("hello")
    p.to_server()
    assert not p.server.has_data_to_send()
    # The Close echo, then the end of the TCP stream.
    p.client.send_close(1000)
    p.to_server()
    assert p.server.has_data_to_send()
    assert p.server.data_to_send() == [build_frame(0x8, b"\x03\xe8"), b""]
    assert not p.server.has_data_to_send()


def test_buffer_is_empty_between_messages() -> None:
    server = Protocol(SERVER)
    frame = build_frame(0x1, b"hello", mask=MASK)
    # A whole frame and the start of the next, then the rest.
    server.receive_data(frame + frame[:3])
    assert server.events_received() == [TextMessage("hello")]
    server.receive_data(frame[3:])
    assert server.events_received() == [TextMessage("hello")]
    assert len(server._buf) == 0
    server.receive_data(memoryview(frame + frame))
    assert server.events_received() == [TextMessage("hello")] * 2
    assert len(server._buf) == 0


def test_bytes_needed_while_a_large_binary_frame_arrives() -> None:
    server = Protocol(SERVER, max_message_size=None)
    payload = bytes(range(256)) * 1024  # 256 KiB
    frame = build_frame(0x2, payload, mask=MASK)
    after = build_frame(0x1, b"next", mask=MASK)
    assert server.bytes_needed() == 0
    server.receive_data(frame[:1000])
    assert server.bytes_needed() == len(frame) - 1000
    server.receive_data(frame[1000:5000])
    assert server.bytes_needed() == len(frame) - 5000
    assert server.events_received() == []
    # The last byte of the frame and the next one, together.
    server.receive_data(frame[5000:] + after)
    assert server.bytes_needed() == 0
    assert server.events_received() == [BinaryMessage(payload), TextMessage("next")]
    assert len(server._buf) == 0


def test_bytes_needed_for_binary_continuations_only() -> None:
    server = Protocol(SERVER, max_message_size=None)
    first = build_frame(0x2, b"a" * 100, fin=False, mask=MASK)
    rest = build_frame(0x0, b"b" * 70000, mask=MASK)
    server.receive_data(first + rest[:10])
    assert server.bytes_needed() == len(rest) - 10
    server.receive_data(rest[10:])
    assert server.events_received() == [BinaryMessage(b"a" * 100 + b"b" * 70000)]
    # Text is decoded as it arrives, so that bad UTF-8 fails at once.
    text = build_frame(0x1, "é".encode() * 40000, mask=MASK)
    server.receive_data(text[:1000])
    assert server.bytes_needed() == 0
    server.receive_data(text[1000:])
    assert server.events_received() == [TextMessage("é" * 40000)]
    # An incomplete header says nothing yet.
    server.receive_data(build_frame(0x2, b"c" * 70000, mask=MASK)[:3])
    assert server.bytes_needed() == 0


def test_bytes_needed_is_zero_for_compressed_frames() -> None:
    client_ext, server_ext = negotiated(DeflateOptions())
    server = Protocol(SERVER, deflate=server_ext, max_message_size=None)
    client = Protocol(CLIENT, deflate=client_ext, max_message_size=None)
    client.send_binary(random.Random(1).randbytes(100000))
    wire = b"".join(client.data_to_send())
    server.receive_data(wire[:2000])
    assert server.bytes_needed() == 0  # inflated as it arrives
    server.receive_data(wire[2000:])
    assert len(server.events_received()[0].data) == 100000  # type: ignore[attr-defined]


# -- pings and pongs -----------------------------------------------------------


@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(125))])
def test_server_answers_ping_with_same_payload(payload: bytes) -> None:
    p = Pair()
    p.client.send_ping(payload)
    p.to_server()
    assert p.server.events_received() == [Ping(payload)]
    reply = b"".join(p.to_client())
    # Unmasked from a server.
    assert reply == build_frame(0xA, payload)
    assert p.client.events_received() == [Pong(payload)]
    assert p.client.data_to_send() == []  # a Pong is not answered


@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(125))])
def test_client_answers_ping_with_same_payload(payload: bytes) -> None:
    p = Pair()
    p.server.send_ping(payload)
    p.to_client()
    assert p.client.events_received() == [Ping(payload)]
    reply = b"".join(p.to_server())
    assert reply[1] & 0x80  # masked from a client
    assert decode_frames(reply) == [(0xA, True, False, payload)]
    assert p.server.events_received() == [Pong(payload)]


def test_ping_with_every_reply_in_order() -> None:
    p = Pair()
    for i in range(10):
        p.server.send_ping(bytes([i]))
    p.to_client()
    replies = decode_frames(b"".join(p.client.data_to_send()))
    assert [payload for _, _, _, payload in replies] == [bytes([i]) for i in range(10)]


def test_no_pong_after_sending_close() -> None:
    p = Pair()
    p.server.send_close(1000)
    p.server.data_to_send()  # lost in transit, say
    p.client.send_ping(b"late")
    p.to_server()
    # The ping is reported, but RFC 6455 5.5.1: after a Close frame nothing
    # else is sent.
    assert p.server.events_received() == [Ping(b"late")]
    assert p.server.data_to_send() == []
    assert p.server.state is State.CLOSING


def test_no_pong_after_receiving_close() -> None:
    p = Pair()
    wire = build_frame(0x8, b"\x03\xe8", mask=MASK) + build_frame(0x9, b"x", mask=MASK)
    p.server.receive_data(wire)
    assert p.server.events_received() == [Close(1000, "")]
    out = p.server.data_to_send()
    assert [close_frame_code(out[0]), out[1:]] == [1000, [b""]]


def test_pong_event() -> None:
    p = Pair()
    p.client.send_pong(b"heartbeat")
    p.to_server()
    assert p.server.events_received() == [Pong(b"heartbeat")]
    assert p.server.data_to_send() == []


# -- argument and state errors -------------------------------------------------


@pytest.mark.parametrize("method", ["send_ping", "send_pong"])
def test_control_payload_too_long(method: str) -> None:
    protocol = Protocol(SERVER)
    with pytest.raises(ValueError):
        getattr(protocol, method)(bytes(126))
    getattr(protocol, method)(bytes(125))
    assert len(protocol.data_to_send()) == 1
    assert protocol.state is State.OPEN


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (999, ""),
        (1004, ""),
        (1005, ""),
        (1006, ""),
        (1015, ""),
        (2999, ""),
        (5000, ""),
        (1000, "x" * 124),
        (None, "reason without code"),
    ],
)
def test_send_close_invalid_arguments(code: Optional[int], reason: str) -> None:
    protocol = Protocol(CLIENT)
    with pytest.raises(ValueError):
        protocol.send_close(code, reason)
    # Nothing changed: the connection is still usable.
    assert protocol.state is State.OPEN
    assert protocol.close_sent is None
    assert protocol.data_to_send() == []
    protocol.send_text("still open")
    assert len(protocol.data_to_send()) == 1


def test_send_continuation_without_message() -> None:
    protocol = Protocol(SERVER)
    with pytest.raises(InvalidState):
        protocol.send_continuation(b"x", fin=True)
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("method", ["send_text", "send_binary"])
def test_new_message_while_fragmented_message_in_progress(method: str) -> None:
    protocol = Protocol(SERVER)
    protocol.send_text("a", fin=False)
    with pytest.raises(InvalidState):
        getattr(protocol, method)(b"b")
    protocol.send_continuation(b"c", fin=True)
    getattr(protocol, method)(b"d")
    frames = decode_frames(b"".join(protocol.data_to_send()))
    assert [(op, fin, payload) for op, fin, _, payload in frames] == [
        (0x1, False, b"a"),
        (0x0, True, b"c"),
        (0x1 if method == "send_text" else 0x2, True, b"d"),
    ]


def test_invalid_state_is_an_assertion_error() -> None:
    # Callers' bugs, not the peer's: they may surface as AssertionError.
    assert issubclass(InvalidState, AssertionError)


SENDERS = [
    ("send_text", ("x",)),
    ("send_binary", (b"x",)),
    ("send_continuation", (b"x", True)),
    ("send_ping", (b"x",)),
    ("send_pong", (b"x",)),
    ("send_close", (1000,)),
]


@pytest.mark.parametrize(("method", "args"), SENDERS, ids=[m for m, _ in SENDERS])
@pytest.mark.parametrize("how", ["sent-close", "received-close", "failed", "eof"])
def test_send_after_close(method: str, args: tuple, how: str) -> None:
    p = Pair()
    if how == "sent-close":
        p.server.send_close(1000)
    elif how == "received-close":
        p.client.send_close(1000)
        p.to_server()
    elif how == "failed":
        p.server.receive_data(b"\x83\x80" + MASK)  # reserved opcode 3
        assert p.server.failure is not None
    else:
        p.server.receive_eof()
    p.server.data_to_send()
    with pytest.raises(InvalidState):
        getattr(p.server, method)(*args)
    assert p.server.data_to_send() == []


@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_rejected_first_fragment_starts_no_message(side: Side) -> None:
    # A send_*() call that raises must not change the state: here no
    # fragmented message may be left open, or the next send_continuation()
    # would put a continuation frame that continues nothing on the wire,
    # and the peer would fail the connection with 1002.
    protocol = Protocol(side)
    with pytest.raises(TypeError):
        protocol.send_binary("not bytes", fin=False)  # type: ignore[arg-type]
    assert protocol.data_to_send() == []
    with pytest.raises(InvalidState):
        protocol.send_continuation(b"x", fin=True)
    assert protocol.data_to_send() == []


@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_rejected_last_fragment_keeps_the_message_open(side: Side) -> None:
    # Likewise, a final fragment that could not be sent leaves the message
    # unfinished: starting a new one must still be refused.
    protocol = Protocol(side)
    protocol.send_binary(b"first", fin=False)
    protocol.data_to_send()
    with pytest.raises(TypeError):
        protocol.send_continuation(12345, fin=True)  # type: ignore[arg-type]
    assert protocol.data_to_send() == []
    with pytest.raises(InvalidState):
        protocol.send_binary(b"new message")
    protocol.send_continuation(b"last", fin=True)
    assert len(protocol.data_to_send()) == 1


def test_send_close_twice() -> None:
    protocol = Protocol(CLIENT)
    protocol.send_close(1000)
    with pytest.raises(InvalidState):
        protocol.send_close(1000)
    assert len(protocol.data_to_send()) == 1


def test_negative_max_message_size() -> None:
    with pytest.raises(ValueError):
        Protocol(SERVER, max_message_size=-1)


# -- max_message_size ----------------------------------------------------------


def assert_failed_with(
    protocol: Protocol, code: int, cls: type = ProtocolError
) -> None:
    """The connection failed: Close frame with ``code``, then TCP close."""
    assert isinstance(protocol.failure, cls)
    assert protocol.failure.code == code
    out = protocol.data_to_send()
    assert len(out) == 2
    assert close_frame_code(out[0]) == code
    assert out[1] == b""
    assert protocol.state is State.CLOSED
    assert protocol.close_code == code


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_max_message_size_at_the_limit(kind: str) -> None:
    p = Pair(max_message_size=1000)
    if kind == "text":
        p.client.send_text("é" * 500)  # 1000 bytes of UTF-8
        expected: Event = TextMessage("é" * 500)
    else:
        p.client.send_binary(bytes(1000))
        expected = BinaryMessage(bytes(1000))
    p.to_server()
    assert p.server.events_received() == [expected]
    assert p.server.failure is None


@pytest.mark.parametrize("limit", [0, 125, 1000, 65536])
def test_max_message_size_one_byte_over_fails_on_the_header(limit: int) -> None:
    server = Protocol(SERVER, max_message_size=limit)
    frame = build_frame(0x2, bytes(limit + 1), mask=MASK)
    header_size = 6 if limit + 1 < 126 else 8 if limit + 1 < 65536 else 14
    # Only the header (with the masking key) arrives: the limit is enforced
    # before any payload is buffered.
    server.receive_data(frame[:header_size])
    assert_failed_with(server, 1009, PayloadTooBig)
    assert server.events_received() == []
    # The payload arriving later is ignored.
    server.receive_data(frame[header_size:])
    assert server.events_received() == []
    assert server.data_to_send() == []


def test_max_message_size_zero_allows_empty_messages() -> None:
    p = Pair(max_message_size=0)
    p.client.send_text("")
    p.client.send_binary(b"")
    p.client.send_ping(b"pings are not messages")
    p.to_server()
    assert p.server.events_received() == [
        TextMessage(""),
        BinaryMessage(b""),
        Ping(b"pings are not messages"),
    ]
    assert p.server.failure is None


def test_max_message_size_across_fragments_at_the_limit() -> None:
    p = Pair(max_message_size=1000)
    p.client.send_binary(bytes(600), fin=False)
    p.client.send_continuation(bytes(0), fin=False)
    p.client.send_continuation(bytes(400), fin=True)
    p.to_server()
    assert p.server.events_received() == [BinaryMessage(bytes(1000))]


def test_max_message_size_across_fragments_one_byte_over() -> None:
    server = Protocol(SERVER, max_message_size=1000)
    server.receive_data(build_frame(0x1, b"a" * 600, fin=False, mask=MASK))
    server.receive_data(build_frame(0x0, b"b" * 300, fin=False, mask=MASK))
    assert server.failure is None
    third = build_frame(0x0, b"c" * 101, fin=True, mask=MASK)
    server.receive_data(third[:6])  # header: 2 bytes, key: 4 bytes
    assert_failed_with(server, 1009, PayloadTooBig)
    assert server.events_received() == []


# -- max_fragments ---------------------------------------------------------------


def test_max_fragments_default() -> None:
    assert Protocol(SERVER).max_fragments == 4096


@pytest.mark.parametrize("opcode", [0x1, 0x2])
def test_max_fragments_at_the_limit(opcode: int) -> None:
    server = Protocol(SERVER, max_fragments=4)
    server.receive_data(build_frame(opcode, b"a", fin=False, mask=MASK))
    for _ in range(2):
        server.receive_data(build_frame(0x0, b"", fin=False, mask=MASK))
    server.receive_data(build_frame(0x0, b"b", fin=True, mask=MASK))
    payload = "ab" if opcode == 0x1 else b"ab"
    expected = TextMessage(payload) if opcode == 0x1 else BinaryMessage(payload)
    assert server.events_received() == [expected]
    assert server.failure is None


def test_max_fragments_one_frame_over_fails_with_1009() -> None:
    server = Protocol(SERVER, max_fragments=4)
    server.receive_data(build_frame(0x2, b"a", fin=False, mask=MASK))
    for _ in range(3):
        server.receive_data(build_frame(0x0, b"", fin=False, mask=MASK))
    assert server.failure is None
    server.receive_data(build_frame(0x0, b"", fin=False, mask=MASK))
    assert_failed_with(server, 1009, PayloadTooBig)
    assert "more than 4 frames" in str(server.failure)
    assert server.events_received() == []


def test_max_fragments_default_stops_endless_empty_continuations() -> None:
    server = Protocol(SERVER, max_message_size=None)
    empty = build_frame(0x0, b"", fin=False, mask=MASK)
    server.receive_data(build_frame(0x2, b"", fin=False, mask=MASK) + empty * 4095)
    assert server.failure is None
    server.receive_data(empty)
    assert_failed_with(server, 1009, PayloadTooBig)


def test_max_fragments_counts_per_message_and_ignores_control_frames() -> None:
    server = Protocol(SERVER, max_fragments=2)
    for _ in range(3):
        server.receive_data(build_frame(0x2, b"a", fin=False, mask=MASK))
        server.receive_data(build_frame(0x9, b"ping", mask=MASK))
        server.receive_data(build_frame(0x0, b"b", fin=True, mask=MASK))
    assert server.failure is None
    events = server.events_received()
    assert events.count(BinaryMessage(b"ab")) == 3


def test_max_fragments_none_and_invalid() -> None:
    server = Protocol(SERVER, max_fragments=None)
    data = build_frame(0x2, b"", fin=False, mask=MASK)
    data += build_frame(0x0, b"", fin=False, mask=MASK) * 5000
    data += build_frame(0x0, b"x", fin=True, mask=MASK)
    server.receive_data(data)
    assert server.events_received() == [BinaryMessage(b"x")]
    with pytest.raises(ValueError, match="max_fragments"):
        Protocol(SERVER, max_fragments=0)


def test_max_message_size_resets_between_messages() -> None:
    p = Pair(max_message_size=1000)
    for _ in range(5):
        p.client.send_binary(bytes(500), fin=False)
        p.client.send_continuation(bytes(500), fin=True)
    p.to_server()
    assert p.server.events_received() == [BinaryMessage(bytes(1000))] * 5
    assert p.server.failure is None


def test_max_message_size_default() -> None:
    server = Protocol(SERVER)
    assert server.max_message_size == MiB
    server.receive_data(build_frame(0x2, bytes(MiB), mask=MASK))
    assert server.events_received() == [BinaryMessage(bytes(MiB))]
    server.receive_data(build_frame(0x2, bytes(MiB + 1), mask=MASK)[:14])
    assert_failed_with(server, 1009, PayloadTooBig)


def test_max_message_size_none_is_unlimited() -> None:
    p = Pair(max_message_size=None)
    data = bytes(5 * MiB)
    p.server.send_binary(data, fin=False)
    p.server.send_continuation(data, fin=True)
    p.to_client()
    [event] = p.client.events_received()
    assert event == BinaryMessage(data + data)


# -- closing handshake ---------------------------------------------------------


def test_client_starts_closing_handshake() -> None:
    p = Pair()
    p.client.send_close(1000, "bye")
    assert p.client.state is State.CLOSING
    assert p.client.close_sent == (1000, "bye")
    assert not p.client.close_expected()
    assert p.client.close_code is None

    sent = p.to_server()
    assert len(sent) == 1 and close_frame_code(sent[0]) == 1000
    assert p.server.events_received() == [Close(1000, "bye")]
    assert p.server.state is State.CLOSED
    assert p.server.close_rcvd == (1000, "bye")
    assert p.server.close_rcvd_then_sent is True

    # RFC 6455 7.1.1: the server closes TCP first, right after its Close.
    reply = p.to_client()
    assert len(reply) == 2
    assert close_frame_code(reply[0]) == 1000  # the code is echoed
    assert reply[1] == b""
    assert p.client.events_received() == [Close(1000, "bye")]  # and the reason
    assert p.client.state is State.CLOSED
    assert p.client.close_rcvd_then_sent is False
    assert p.client.eof_rcvd  # the b"" was delivered as EOF
    # The client got the server's EOF; it answers with its own.
    assert p.client.data_to_send() == [b""]
    assert not p.client.close_expected()

    for side in (p.client, p.server):
        exc = side.close_exc()
        assert isinstance(exc, ConnectionClosedOK)
        assert exc.code == 1000


def test_client_waits_for_the_server_to_close_tcp() -> None:
    p = Pair()
    p.server.send_close(1001, "restarting")
    sent = p.to_client()
    assert len(sent) == 1  # no EOF yet: the server waits for the reply
    assert p.client.events_received() == [Close(1001, "restarting")]
    # The client answers but does not close TCP: it waits for the server.
    reply = p.client.data_to_send()
    assert len(reply) == 1 and close_frame_code(reply[0]) == 1001
    assert p.client.state is State.CLOSED
    assert p.client.close_expected()

    for chunk in reply:
        p.server.receive_data(chunk)
    assert p.server.events_received() == [Close(1001, "restarting")]
    assert p.server.state is State.CLOSED
    assert p.server.data_to_send() == [b""]

    p.client.receive_eof()
    assert not p.client.close_expected()
    assert p.client.data_to_send() == [b""]
    assert p.client.close_code == 1001
    assert isinstance(p.client.close_exc(), ConnectionClosedOK)


@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_close_without_status(side: Side) -> None:
    p = Pair()
    sender, receiver = ends(p, side)
    sender.send_close(None)
    wire = p.transfer(sender, receiver)
    assert decode_frames(wire[0]) == [(0x8, True, False, b"")]
    assert receiver.events_received() == [Close(1005, "")]
    assert receiver.close_code == 1005
    # The reply is an empty Close frame too: 1005 may not go on the wire.
    reply = receiver.data_to_send()
    assert decode_frames(reply[0]) == [(0x8, True, False, b"")]
    for chunk in reply:
        if chunk:
            sender.receive_data(chunk)
    assert sender.events_received() == [Close(1005, "")]
    assert sender.close_code == 1005
    for protocol in (sender, receiver):
        exc = protocol.close_exc()
        assert isinstance(exc, ConnectionClosedOK)
        assert exc.code == 1005


@pytest.mark.parametrize(
    ("code", "reason", "exc_class"),
    [
        (1000, "", ConnectionClosedOK),
        (1000, "done", ConnectionClosedOK),
        (1001, "going away", ConnectionClosedOK),
        (1002, "", ConnectionClosedError),
        (1003, "no text", ConnectionClosedError),
        (1008, "policy", ConnectionClosedError),
        (1011, "oops", ConnectionClosedError),
        (1014, "", ConnectionClosedError),
        (3000, "framework", ConnectionClosedError),
        (4999, "app ☃", ConnectionClosedError),
    ],
)
@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_close_codes_and_reasons(
    code: int, reason: str, exc_class: type, side: Side
) -> None:
    p = Pair()
    sender, receiver = ends(p, side)
    sender.send_close(code, reason)
    p.transfer(sender, receiver)
    assert receiver.events_received() == [Close(code, reason)]
    assert receiver.close_code == code
    assert receiver.close_reason == reason
    p.transfer(receiver, sender)
    assert sender.close_code == code
    exc = receiver.close_exc()
    assert type(exc) is exc_class
    assert (exc.code, exc.reason) == (code, reason)
    assert type(sender.close_exc()) is exc_class


def test_receive_eof_mid_message() -> None:
    p = Pair()
    p.client.send_text("part", fin=False)
    p.to_server()
    assert p.server.events_received() == []
    p.server.receive_eof()
    assert p.server.state is State.CLOSED
    assert p.server.close_code == 1006
    # No Close frame: the TCP connection is gone. Just close our side.
    assert p.server.data_to_send() == [b""]
    assert p.server.events_received() == []
    exc = p.server.close_exc()
    assert isinstance(exc, ConnectionClosedError)
    assert exc.code == 1006
    with pytest.raises(InvalidState):
        p.server.receive_data(b"\x80\x80" + MASK)


def test_receive_eof_mid_frame() -> None:
    client = Protocol(CLIENT)
    client.receive_data(build_frame(0x2, bytes(1000))[:500])
    client.receive_eof()
    assert client.close_code == 1006
    assert client.events_received() == []
    assert client.data_to_send() == [b""]
    client.receive_eof()  # a second EOF changes nothing
    assert client.data_to_send() == []


def test_receive_eof_while_closing() -> None:
    p = Pair()
    p.client.send_close(1000)
    p.client.data_to_send()
    p.client.receive_eof()  # the server dropped TCP without answering
    assert p.client.state is State.CLOSED
    assert p.client.close_code == 1006
    assert isinstance(p.client.close_exc(), ConnectionClosedError)


def test_data_after_close_is_ignored() -> None:
    server = Protocol(SERVER)
    close = build_frame(0x8, b"\x03\xe8bye", mask=MASK)
    text = build_frame(0x1, b"after", mask=MASK)
    # In the same chunk as the Close frame, and in a later one.
    server.receive_data(close + text)
    server.receive_data(text + b"\xff\xff garbage")
    assert server.events_received() == [Close(1000, "bye")]
    assert server.failure is None
    out = server.data_to_send()
    assert close_frame_code(out[0]) == 1000 and out[1:] == [b""]


def test_close_frame_while_fragmented_message_in_progress() -> None:
    # Control frames may come between fragments; the partial message is lost.
    p = Pair()
    p.client.send_text("part", fin=False)
    p.to_server()
    p.server.receive_data(build_frame(0x8, b"\x03\xe9", mask=MASK))
    assert p.server.events_received() == [Close(1001, "")]
    assert p.server.failure is None


def test_fail_locally() -> None:
    p = Pair()
    p.server.fail(1011, "keepalive timeout")
    out = p.server.data_to_send()
    assert close_frame_code(out[0]) == 1011
    assert out[1:] == [b""]
    assert p.server.state is State.CLOSED
    assert p.server.close_code == 1011
    assert p.server.close_reason == "keepalive timeout"
    assert p.server.failure is None  # the peer did nothing wrong
    exc = p.server.close_exc()
    assert isinstance(exc, ConnectionClosedError)
    assert exc.code == 1011
    p.server.fail(1002)  # no effect once closed
    assert p.server.data_to_send() == []
    assert p.server.close_code == 1011


def test_fail_while_closing_sends_no_second_close() -> None:
    client = Protocol(CLIENT)
    client.send_close(1000)
    client.data_to_send()
    client.fail(1011)
    assert client.data_to_send() == [b""]
    assert client.state is State.CLOSED


def test_failure_is_chained_into_close_exc() -> None:
    server = Protocol(SERVER)
    server.receive_data(b"\x83\x80" + MASK)  # reserved opcode 3
    exc = server.close_exc()
    assert isinstance(exc, ConnectionClosedError)
    assert exc.code == 1002
    assert exc.__cause__ is server.failure
    assert server.close_reason == str(server.failure)


def test_events_before_a_failure_are_kept() -> None:
    server = Protocol(SERVER)
    server.receive_data(
        build_frame(0x1, b"first", mask=MASK) + build_frame(0x3, b"", mask=MASK)
    )
    assert server.events_received() == [TextMessage("first")]
    assert server.failure is not None


def test_state_and_side_values() -> None:
    assert Protocol(CLIENT).side is Side.CLIENT
    assert Protocol(SERVER).state is State.OPEN
    assert Protocol(SERVER).close_code is None


# -- compression ---------------------------------------------------------------

DEFLATE_OPTIONS = {
    "context-takeover": DeflateOptions(min_size=0),
    "no-context-takeover": DeflateOptions(
        server_no_context_takeover=True, client_no_context_takeover=True, min_size=0
    ),
    "client-no-context-takeover": DeflateOptions(
        client_no_context_takeover=True, min_size=0
    ),
    "small-windows": DeflateOptions(
        server_max_window_bits=9, client_max_window_bits=8, min_size=0
    ),
}


def compressed_pair(
    options: DeflateOptions, max_message_size: Optional[int] = 2**20
) -> Pair:
    client_extension, server_extension = negotiated(options)
    return Pair(
        max_message_size=max_message_size,
        client_deflate=client_extension,
        server_deflate=server_extension,
    )


def test_negotiation_agrees() -> None:
    client_extension, server_extension = negotiated(
        DEFLATE_OPTIONS["no-context-takeover"]
    )
    assert client_extension.server_no_context_takeover
    assert server_extension.server_no_context_takeover
    assert client_extension.client_no_context_takeover
    assert server_extension.client_no_context_takeover
    assert not client_extension.is_server and server_extension.is_server


@pytest.mark.parametrize("name", sorted(DEFLATE_OPTIONS))
@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_compressed_round_trips(name: str, side: Side) -> None:
    p = compressed_pair(DEFLATE_OPTIONS[name], max_message_size=None)
    sender, receiver = ends(p, side)
    rng = random.Random(name)
    messages: list[Event] = [
        TextMessage(""),
        TextMessage("héllo " * 1000),
        BinaryMessage(b""),
        BinaryMessage(rng.randbytes(70000)),
        BinaryMessage(bytes(3 * MiB)),
        TextMessage("héllo " * 1000),
    ]
    for message in messages:
        if isinstance(message, TextMessage):
            sender.send_text(message.data)
        else:
            sender.send_binary(message.data)  # type: ignore[union-attr]
    # And a fragmented one with a ping in the middle.
    sender.send_text("frag", fin=False)
    sender.send_ping(b"p")
    sender.send_continuation("ment" * 100, fin=False)
    sender.send_continuation("", fin=True)
    wire = b"".join(p.transfer(sender, receiver))
    assert receiver.events_received() == messages + [
        Ping(b"p"),
        TextMessage("frag" + "ment" * 100),
    ]
    assert receiver.failure is None
    # Compression did happen: 3 MiB of zeros and the repeated text are small.
    assert len(wire) < 100_000


@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_context_takeover_shrinks_repeated_messages(side: Side) -> None:
    message = "a message that is sent twice, with some more words " * 4
    sizes = {}
    for name in ("context-takeover", "no-context-takeover"):
        p = compressed_pair(DEFLATE_OPTIONS[name])
        sender, receiver = ends(p, side)
        sender.send_text(message)
        first = b"".join(p.transfer(sender, receiver))
        sender.send_text(message)
        second = b"".join(p.transfer(sender, receiver))
        assert receiver.events_received() == [TextMessage(message)] * 2
        sizes[name] = (len(first), len(second))
    with_takeover, without = sizes["context-takeover"], sizes["no-context-takeover"]
    # With context takeover the second copy refers back to the first one.
    assert with_takeover[1] < with_takeover[0] // 2
    # Without it, each message starts from an empty window: same size.
    assert without[1] == without[0]


@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_rsv1_only_on_the_first_frame(side: Side) -> None:
    p = compressed_pair(DEFLATE_OPTIONS["context-takeover"])
    sender, receiver = ends(p, side)
    sender.send_binary(bytes(1000), fin=False)
    sender.send_ping(b"between")
    sender.send_continuation(bytes(1000), fin=False)
    sender.send_continuation(bytes(1000), fin=True)
    sender.send_text("x" * 100)
    wire = b"".join(p.transfer(sender, receiver))
    assert [(op, fin, rsv1) for op, fin, rsv1, _ in decode_frames(wire)] == [
        (0x2, False, True),
        (0x9, True, False),
        (0x0, False, False),
        (0x0, True, False),
        (0x1, True, True),
    ]
    assert receiver.events_received() == [
        Ping(b"between"),
        BinaryMessage(bytes(3000)),
        TextMessage("x" * 100),
    ]


@pytest.mark.parametrize("side", [CLIENT, SERVER], ids=["client", "server"])
def test_min_size(side: Side) -> None:
    p = compressed_pair(DeflateOptions(min_size=32))
    sender, receiver = ends(p, side)
    sender.send_text("x" * 31)
    sender.send_text("x" * 32)
    sender.send_binary(b"y" * 31)
    wire = b"".join(p.transfer(sender, receiver))
    frames = decode_frames(wire)
    assert [rsv1 for _, _, rsv1, _ in frames] == [False, True, False]
    # Below min_size the payload goes as is; at min_size it is compressed.
    assert frames[0][3] == b"x" * 31
    assert frames[1][3] != b"x" * 32 and len(frames[1][3]) < 32
    assert frames[2][3] == b"y" * 31
    assert receiver.events_received() == [
        TextMessage("x" * 31),
        TextMessage("x" * 32),
        BinaryMessage(b"y" * 31),
    ]


def test_uncompressed_message_between_compressed_ones() -> None:
    # The decompressor's context must survive an uncompressed message.
    p = compressed_pair(DeflateOptions(min_size=10))
    for text in ("first message, compressed", "short", "first message, compressed"):
        p.client.send_text(text)
    p.to_server()
    assert p.server.events_received() == [
        TextMessage("first message, compressed"),
        TextMessage("short"),
        TextMessage("first message, compressed"),
    ]


def raw_deflate(data: bytes, wbits: int = 15) -> bytes:
    """Compress a whole message as RFC 7692 7.2.1 says, independently."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_compressed_message_over_the_limit_fails_while_inflating() -> None:
    _, server_extension = negotiated(DeflateOptions())
    server = Protocol(SERVER, max_message_size=65536, deflate=server_extension)
    payload = raw_deflate(bytes(10 * MiB))  # a few KB on the wire
    assert len(payload) < 65536
    server.receive_data(build_frame(0x2, payload, rsv1=True, mask=MASK))
    assert_failed_with(server, 1009, PayloadTooBig)
    assert server.events_received() == []


def test_compressed_message_at_the_limit() -> None:
    _, server_extension = negotiated(DeflateOptions())
    server = Protocol(SERVER, max_message_size=65536, deflate=server_extension)
    payload = raw_deflate(bytes(65536))
    server.receive_data(build_frame(0x2, payload, rsv1=True, mask=MASK))
    assert server.events_received() == [BinaryMessage(bytes(65536))]
    server.receive_data(
        build_frame(0x2, raw_deflate(bytes(65537)), rsv1=True, mask=MASK)
    )
    assert_failed_with(server, 1009, PayloadTooBig)


def test_compressed_fragments_over_the_limit() -> None:
    client_extension, server_extension = negotiated(DeflateOptions())
    client = Protocol(CLIENT, deflate=client_extension)
    server = Protocol(SERVER, max_message_size=10000, deflate=server_extension)
    client.send_binary(bytes(6000), fin=False)
    client.send_continuation(bytes(4000), fin=False)
    server.receive_data(b"".join(client.data_to_send()))
    assert server.failure is None
    client.send_continuation(bytes(1), fin=True)
    server.receive_data(b"".join(client.data_to_send()))
    assert_failed_with(server, 1009, PayloadTooBig)


def test_compressed_frames_without_negotiation_fail() -> None:
    server = Protocol(SERVER)
    server.receive_data(build_frame(0x1, raw_deflate(b"hello"), rsv1=True, mask=MASK))
    assert_failed_with(server, 1002)


def finished_deflate(data: bytes) -> bytes:
    """A whole DEFLATE stream ending with a final block (BFINAL set)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


def test_compressed_messages_ending_with_a_final_block() -> None:
    # RFC 7692 7.2.3.4: a sender may end its stream with a final block; what
    # follows starts a new stream without history.
    client = Protocol(CLIENT, deflate=PerMessageDeflate(is_server=False))
    client.receive_data(build_frame(0x1, finished_deflate(b"hello"), rsv1=True))
    client.receive_data(build_frame(0x1, finished_deflate(b"world" * 10), rsv1=True))
    client.receive_data(
        build_frame(0x2, finished_deflate(b"abc"), fin=False, rsv1=True)
    )
    client.receive_data(build_frame(0x0, raw_deflate(b"def")))
    assert client.events_received() == [
        TextMessage("hello"),
        TextMessage("world" * 10),
        BinaryMessage(b"abcdef"),
    ]
    assert client.failure is None


def test_empty_compressed_message() -> None:
    # RFC 7692 7.2.3.6: an empty message compresses to the single octet 00.
    client = Protocol(CLIENT, deflate=PerMessageDeflate(is_server=False))
    client.receive_data(build_frame(0x2, b"\x00", rsv1=True))
    client.receive_data(build_frame(0x1, raw_deflate(b"after"), rsv1=True))
    assert client.events_received() == [BinaryMessage(b""), TextMessage("after")]
    assert client.failure is None


def test_zero_byte_compressed_payload_does_not_corrupt_later_messages() -> None:
    # A compressed payload of zero bytes is not a DEFLATE block: with the
    # 00 00 ff ff of RFC 7692 7.2.2 appended it is an unfinished stored-block
    # header. Treating it as an empty message is fine, and so is failing
    # with 1007; leaving the inflater inside that block is not, because the
    # next messages are then read as the block's raw content.
    client = Protocol(CLIENT, deflate=PerMessageDeflate(is_server=False))
    client.receive_data(build_frame(0x1, b"", rsv1=True))
    client.receive_data(build_frame(0x2, b"\x00", rsv1=True))
    client.receive_data(build_frame(0x2, raw_deflate(b"data"), rsv1=True))
    events = client.events_received()
    if client.failure is None:
        assert events == [TextMessage(""), BinaryMessage(b""), BinaryMessage(b"data")]
    else:
        assert client.failure.code == 1007
        assert events == []


def test_compressed_message_ending_inside_a_stored_block_fails() -> None:
    # A stored block announcing 16 bytes, of which 2 arrive. RFC 7692 7.2.2
    # appends 00 00 ff ff and inflates; that only ends cleanly when the
    # sender's data ended on a block boundary, as a sync flush guarantees.
    # Here the 4 appended octets would be taken as block content and the
    # message delivered as b"ab\x00\x00\xff\xff": invalid data (1007).
    client = Protocol(CLIENT, deflate=PerMessageDeflate(is_server=False))
    payload = b"\x00" + struct.pack("<HH", 16, 16 ^ 0xFFFF) + b"ab"
    client.receive_data(build_frame(0x2, payload, rsv1=True))
    assert client.events_received() == []
    assert_failed_with(client, 1007)


# -- fail() validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason"), [(1005, ""), (1006, ""), (1000, "x" * 124)]
)
def test_fail_with_invalid_arguments_changes_nothing(code: int, reason: str) -> None:
    # Like send_close(), fail() must check its arguments before touching the
    # state: a ValueError must leave an open connection open and consistent.
    protocol = Protocol(SERVER)
    with pytest.raises(ValueError):
        protocol.fail(code, reason)
    assert protocol.state is State.OPEN
    assert protocol.data_to_send() == []
    assert protocol.close_code is None
    assert protocol.close_reason == ""


# -- logging -------------------------------------------------------------------


def test_debug_logging(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    logger = logging.getLogger("wsocket.tests.protocol")
    logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="wsocket.tests.protocol"):
        p = Pair()
        p.server = Protocol(SERVER, logger=logger)
        p.client.send_ping(b"p")
        p.client.send_close(1000, "bye")
        p.to_server()
        p.to_client()
        bad = Protocol(CLIENT, logger=logger)
        bad.receive_data(b"\x83\x00")
        eof = Protocol(CLIENT, logger=logger)
        eof.receive_eof()
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("< PING") for m in messages), messages
    assert any(m.startswith("< CLOSE 1000 bye") for m in messages), messages
    assert any(m.startswith("> CLOSE 1000") for m in messages), messages
    assert any(m.startswith("! failing connection") and "(1002)" in m for m in messages)
    assert any(m.startswith("! connection closed abnormally") for m in messages)


def test_no_debug_logging_by_default(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="wsocket.protocol"):
        protocol = Protocol(SERVER)
        protocol.receive_data(build_frame(0x9, b"p", mask=MASK))
    assert protocol.debug is False
    assert caplog.records == []
