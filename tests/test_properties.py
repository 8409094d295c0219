"""Property-based tests of wsocket.protocol with hypothesis.

(a) How the bytes are split into reads never changes what is received: a
    stream of messages, fragments and pings, produced by one Protocol, gives
    the other side the same events whether it is fed whole or in any chunks.
(b) Arbitrary input never raises out of ``receive_data()``: the Protocol
    either produces events or fails the connection with a ProtocolError.
(c) After a failure, the last thing to send is the end of the TCP stream.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional, Union

import pytest
from helpers import example_count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsocket.deflate import PerMessageDeflate
from wsocket.exceptions import ProtocolError
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


# Characters of every UTF-8 length, so that chunk boundaries fall inside
# code points.
ALPHABET = "aZ0 ~éß€☃😀\U0010ffff"


# -- (a) chunking does not matter ----------------------------------------------


@dataclass(frozen=True)
class Message:
    """A message to send: its data, where to cut it, pings between fragments."""

    data: Union[str, bytes]
    cuts: tuple[int, ...]  # byte offsets where fragments end, sorted
    pings: tuple[tuple[int, bytes], ...]  # (after fragment i, payload)

    @property
    def encoded(self) -> bytes:
        return self.data.encode() if isinstance(self.data, str) else self.data


@st.composite
def messages(draw: st.DrawFn) -> Message:
    size = draw(st.one_of(st.integers(0, 200), st.integers(0, 70_000)))
    rng = random.Random(draw(st.integers(0, 2**32)))
    if draw(st.booleans()):
        # A str of about ``size`` bytes.
        data: Union[str, bytes] = "".join(
            rng.choice(ALPHABET) for _ in range(size // 2)
        )
        length = len(data.encode())
    else:
        kind = draw(st.sampled_from(["random", "repetitive"]))
        if kind == "random":
            data = rng.randbytes(size)
        else:
            data = (rng.randbytes(16) * (size // 16 + 1))[:size]
        length = size
    # Fragment boundaries may fall anywhere, inside UTF-8 sequences too, and
    # may repeat, which makes empty fragments.
    cuts = tuple(sorted(draw(st.lists(st.integers(0, length), max_size=5))))
    n_fragments = len(cuts) + 1
    pings = tuple(
        draw(
            st.lists(
                st.tuples(st.integers(0, n_fragments - 1), st.binary(max_size=125)),
                max_size=3,
            )
        )
    )
    return Message(data, cuts, pings)


def send(sender: Protocol, message: Message) -> None:
    """Send ``message`` in its fragments, with its pings in between."""
    data = message.encoded
    bounds = [0, *message.cuts, len(data)]
    fragments = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    is_text = isinstance(message.data, str)
    for i, fragment in enumerate(fragments):
        fin = i == len(fragments) - 1
        if i == 0:
            if is_text:
                sender.send_text(fragment, fin=fin)
            else:
                sender.send_binary(fragment, fin=fin)
        else:
            sender.send_continuation(fragment, fin=fin)
        for after, payload in message.pings:
            if after == i and not fin:
                sender.send_ping(payload)


def expected_events(message: Message) -> list[Event]:
    n_fragments = len(message.cuts) + 1
    # Pings go out after their fragment, in order; none after the last one.
    pings = sorted(message.pings, key=lambda ping: ping[0])
    events: list[Event] = [
        Ping(payload) for after, payload in pings if after < n_fragments - 1
    ]
    if isinstance(message.data, str):
        events.append(TextMessage(message.data))
    else:
        events.append(BinaryMessage(message.data))
    return events


def extension(
    side: Side, compress: bool, no_context_takeover: bool
) -> Optional[PerMessageDeflate]:
    if not compress:
        return None
    return PerMessageDeflate(
        is_server=side is SERVER,
        server_no_context_takeover=no_context_takeover,
        client_no_context_takeover=no_context_takeover,
        min_size=0,
    )


def receive(receiver: Protocol, stream: bytes, cuts: Sequence[int]) -> list[Event]:
    """Feed ``stream`` cut at ``cuts``; return every event."""
    events: list[Event] = []
    bounds = [0, *sorted(cuts), len(stream)]
    for a, b in zip(bounds, bounds[1:]):
        receiver.receive_data(stream[a:b])
        events.extend(receiver.events_received())
    return events


@settings(
    max_examples=example_count(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    batch=st.lists(messages(), min_size=1, max_size=4),
    sender_side=st.sampled_from([CLIENT, SERVER]),
    compress=st.booleans(),
    no_context_takeover=st.booleans(),
    data=st.data(),
)
def test_chunking_does_not_change_events(
    batch: list[Message],
    sender_side: Side,
    compress: bool,
    no_context_takeover: bool,
    data: st.DataObject,
) -> None:
    receiver_side = CLIENT if sender_side is SERVER else SERVER
    sender = Protocol(
        sender_side, deflate=extension(sender_side, compress, no_context_takeover)
    )
    for message in batch:
        send(sender, message)
    stream = b"".join(sender.data_to_send())

    def fresh_receiver() -> Protocol:
        return Protocol(
            receiver_side,
            max_message_size=None,
            deflate=extension(receiver_side, compress, no_context_takeover),
        )

    whole = fresh_receiver()
    whole_events = receive(whole, stream, [])
    assert whole.failure is None
    assert whole_events == [event for m in batch for event in expected_events(m)]

    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=40), label="cuts")
    chunked = fresh_receiver()
    assert receive(chunked, stream, cuts) == whole_events
    assert chunked.failure is None
    assert chunked.state is State.OPEN
    # The replies (pongs) are the same frames. A client masks with random
    # keys, so only a server's replies can be compared byte for byte.
    replies_whole = whole.data_to_send()
    replies_chunked = chunked.data_to_send()
    assert len(b"".join(replies_chunked)) == len(b"".join(replies_whole))
    if receiver_side is SERVER:
        assert b"".join(replies_chunked) == b"".join(replies_whole)


@settings(max_examples=example_count(60), deadline=None)
@given(
    text=st.text(alphabet=ALPHABET, max_size=300),
    data=st.data(),
)
def test_byte_at_a_time_equals_whole(text: str, data: st.DataObject) -> None:
    # The extreme case of (a): every read is a single byte.
    sender = Protocol(SERVER)
    encoded = text.encode()
    cut = data.draw(st.integers(0, len(encoded)), label="cut")
    sender.send_text(encoded[:cut], fin=False)
    sender.send_ping(b"ping")
    sender.send_continuation(encoded[cut:], fin=True)
    stream = b"".join(sender.data_to_send())
    receiver = Protocol(CLIENT)
    events = receive(receiver, stream, range(1, len(stream)))
    assert events == [Ping(b"ping"), TextMessage(text)]


# -- (b) and (c) arbitrary input -----------------------------------------------


@st.composite
def frame_like(draw: st.DrawFn) -> bytes:
    """Bytes shaped like a frame, with any bits set: finds deeper paths than noise."""
    b0 = draw(st.integers(0, 255))
    if draw(st.booleans()):
        b0 = (b0 & 0xF0) | draw(st.sampled_from([0x0, 0x1, 0x2, 0x8, 0x9, 0xA]))
    masked = draw(st.booleans())
    kind = draw(st.sampled_from(["random", "utf8", "deflate"]))
    if kind == "random":
        payload = draw(st.binary(max_size=300))
    elif kind == "utf8":
        payload = draw(st.text(alphabet=ALPHABET, max_size=100)).encode()
        if payload and draw(st.booleans()):
            # Damage it: drop or change a byte.
            i = draw(st.integers(0, len(payload) - 1))
            payload = payload[:i] + draw(st.binary(max_size=1)) + payload[i + 1 :]
    else:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = compressor.compress(draw(st.binary(max_size=300)) * 20)
        payload += compressor.flush(zlib.Z_SYNC_FLUSH)
        if draw(st.booleans()):
            payload = payload[:-4]
    n = len(payload)
    mbit = 0x80 if masked else 0
    encoding = draw(st.sampled_from(["minimal", "16", "64", "lie"]))
    if encoding == "lie":
        length = draw(st.integers(0, 2**64 - 1))
        head = struct.pack("!BBQ", b0, mbit | 127, length)
    elif encoding == "64" or n >= 65536:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    elif encoding == "16" or n >= 126:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BB", b0, mbit | n)
    if masked:
        key = draw(st.binary(min_size=4, max_size=4))
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


garbage = st.one_of(
    st.binary(max_size=400),
    st.lists(frame_like(), min_size=1, max_size=6).map(b"".join),
)


@settings(max_examples=example_count(1000), deadline=2000)
@given(
    stream=garbage,
    side=st.sampled_from([CLIENT, SERVER]),
    compress=st.booleans(),
    max_message_size=st.sampled_from([None, 0, 1, 125, 1000]),
    data=st.data(),
)
def test_arbitrary_input_never_raises(
    stream: bytes,
    side: Side,
    compress: bool,
    max_message_size: Optional[int],
    data: st.DataObject,
) -> None:
    protocol = Protocol(
        side,
        max_message_size=max_message_size,
        deflate=PerMessageDeflate(is_server=side is SERVER) if compress else None,
    )
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts")
    events = receive(protocol, stream, cuts)  # (b): must not raise

    for event in events:
        assert isinstance(event, (TextMessage, BinaryMessage, Ping, Pong, Close))
    out = protocol.data_to_send()
    failure = protocol.failure
    if failure is None:
        # Only events, and at most pongs and a Close reply to send.
        assert protocol.state in (State.OPEN, State.CLOSED)
        if protocol.state is State.CLOSED:
            assert isinstance(events[-1], Close)
    else:
        assert isinstance(failure, ProtocolError)
        assert failure.code in (1002, 1007, 1009)
        assert protocol.state is State.CLOSED
        # (c): the Close frame with the failure's code, then the TCP close.
        assert out[-1] == b""
        close = out[-2]
        assert close[0] == 0x88  # FIN, opcode 0x8
        if side is CLIENT:
            key, body = close[2:6], close[6:]
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(body))
        else:
            payload = close[2:]
        assert int.from_bytes(payload[:2], "big") == failure.code
        # Later input is ignored.
        protocol.receive_data(stream or b"\x81\x00")
        assert protocol.events_received() == []
        assert protocol.data_to_send() == []
    assert b"" not in out[:-1]


@settings(max_examples=example_count(300), deadline=2000)
@given(stream=garbage, side=st.sampled_from([CLIENT, SERVER]), data=st.data())
def test_arbitrary_input_chunking_does_not_change_outcome(
    stream: bytes, side: Side, data: st.DataObject
) -> None:
    # (a) again, for input that may be invalid: the same events and the
    # same failure code whatever the reads.
    def run(cuts: Sequence[int]) -> tuple[list[Event], Optional[int]]:
        protocol = Protocol(side, max_message_size=1000)
        events = receive(protocol, stream, cuts)
        return events, None if protocol.failure is None else protocol.failure.code

    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20), label="cuts")
    assert run(cuts) == run([])
