"""Cross-checks against two independent implementations: websockets and wsproto.

Frames and messages built by wsocket must be understood by them, and theirs
by wsocket, for every length class, fragmentation, empty messages, messages
of several MiB, and permessage-deflate negotiated with the same parameters
on both ends. Both libraries are sans-I/O, so everything runs in memory:
websockets through ``websockets.protocol.Protocol`` (which starts OPEN) and
``websockets.frames.Frame``, wsproto through ``wsproto.connection.Connection``
(which also starts OPEN).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Optional, Union

import pytest
import websockets.frames as ws_frames
import websockets.protocol as ws_protocol
import wsproto.connection as wsp_connection
import wsproto.events as wsp_events
import wsproto.extensions as wsp_extensions
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.streams import StreamReader

from wsocket.deflate import (
    DeflateOptions,
    PerMessageDeflate,
    client_accept,
    client_offer,
    server_negotiate,
)
from wsocket.frames import Frame, Opcode
from wsocket.headers import build_extensions, parse_extensions
from wsocket.protocol import (
    CLIENT,
    SERVER,
    BinaryMessage,
    Close,
    Ping,
    Pong,
    Protocol,
    Side,
    State,
    TextMessage,
)

MiB = 2**20

# -- the messages --------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A message and the fragments it is sent in."""

    name: str
    fragments: tuple[Union[str, bytes], ...]

    @property
    def message(self) -> tuple[str, Union[str, bytes]]:
        if isinstance(self.fragments[0], str):
            return ("text", "".join(self.fragments))  # type: ignore[arg-type]
        return ("binary", b"".join(self.fragments))  # type: ignore[arg-type]


def _some_bytes(n: int, seed: int) -> bytes:
    # Half random, half repeated: compression has something to do, but the
    # data is not trivially small once compressed.
    rng = random.Random(seed)
    block = rng.randbytes(4096)
    return b"".join(
        rng.randbytes(4096) if i % 2 else block for i in range(n // 4096 + 1)
    )[:n]


def _some_text(n_bytes: int) -> str:
    text = "Grüße, мир, 世界, 😀! " * (n_bytes // 20)
    return text.encode()[:n_bytes].decode("utf-8", "ignore")


CASES = [
    Case("empty-text", ("",)),
    Case("empty-binary", (b"",)),
    Case("binary-125", (_some_bytes(125, 1),)),
    Case("binary-126", (_some_bytes(126, 2),)),
    Case("binary-65535", (_some_bytes(65535, 3),)),
    Case("binary-65536", (_some_bytes(65536, 4),)),
    Case("text-125", ("x" * 125,)),
    Case("text-126", ("€" * 42,)),
    Case("text-70000", (_some_text(70000),)),
    Case("fragmented-text", ("Hel", "", "lo, wörld ☃", "!")),
    Case("fragmented-binary", (b"\x00", _some_bytes(65536, 5), b"", b"end")),
    Case("empty-fragments", ("", "", "")),
    Case("binary-3MiB", (_some_bytes(3 * MiB, 6),)),
    Case("fragmented-text-2MiB", tuple(_some_text(MiB // 2) for _ in range(4))),
]

#: The cases in two groups: the messages of several MiB take seconds for
#: each pair, so they run in the integration lane (and the full run).
GROUPS = {
    "up-to-70000": [case for case in CASES if "MiB" not in case.name],
    "MiB": [case for case in CASES if "MiB" in case.name],
}
GROUP_PARAMS = [
    "up-to-70000",
    pytest.param("MiB", marks=pytest.mark.integration, id="MiB"),
]

# -- the three implementations, behind one interface ---------------------------

Message = tuple[str, Union[str, bytes]]


class Peer:
    """One end of a connection: sends cases, receives whole messages."""

    def send(self, case: Case) -> bytes:
        raise NotImplementedError

    def receive(self, data: bytes) -> list[Message]:
        raise NotImplementedError


class Ours(Peer):
    def __init__(self, side: Side, extension: Optional[PerMessageDeflate]) -> None:
        self.protocol = Protocol(side, max_message_size=None, deflate=extension)

    def send(self, case: Case) -> bytes:
        first, *rest = case.fragments
        if isinstance(first, str):
            self.protocol.send_text(first, fin=not rest)
        else:
            self.protocol.send_binary(first, fin=not rest)
        for i, fragment in enumerate(rest):
            self.protocol.send_continuation(fragment, fin=i == len(rest) - 1)
        return b"".join(self.protocol.data_to_send())

    def receive(self, data: bytes) -> list[Message]:
        self.protocol.receive_data(data)
        assert self.protocol.failure is None, self.protocol.failure
        messages: list[Message] = []
        for event in self.protocol.events_received():
            if isinstance(event, TextMessage):
                messages.append(("text", event.data))
            elif isinstance(event, BinaryMessage):
                messages.append(("binary", event.data))
        return messages


class Websockets(Peer):
    def __init__(self, side: Side, extension: Any) -> None:
        ws_side = ws_protocol.Side.CLIENT if side is CLIENT else ws_protocol.Side.SERVER
        self.protocol = ws_protocol.Protocol(ws_side, max_size=None)
        if extension is not None:
            self.protocol.extensions = [extension]
        self.parts: list[bytes] = []
        self.opcode: Optional[ws_frames.Opcode] = None

    def send(self, case: Case) -> bytes:
        first, *rest = case.fragments
        if isinstance(first, str):
            self.protocol.send_text(first.encode(), fin=not rest)
        else:
            self.protocol.send_binary(first, fin=not rest)
        for i, fragment in enumerate(rest):
            if isinstance(fragment, str):
                fragment = fragment.encode()
            self.protocol.send_continuation(fragment, fin=i == len(rest) - 1)
        return b"".join(self.protocol.data_to_send())

    def receive(self, data: bytes) -> list[Message]:
        self.protocol.receive_data(data)
        assert self.protocol.parser_exc is None, self.protocol.parser_exc
        messages: list[Message] = []
        for frame in self.protocol.events_received():
            if frame.opcode in (ws_frames.Opcode.TEXT, ws_frames.Opcode.BINARY):
                self.opcode = frame.opcode
                self.parts = []
            elif frame.opcode is not ws_frames.Opcode.CONT:
                continue
            self.parts.append(frame.data)
            if frame.fin:
                data = b"".join(self.parts)
                if self.opcode is ws_frames.Opcode.TEXT:
                    messages.append(("text", data.decode()))
                else:
                    messages.append(("binary", data))
        return messages


class Wsproto(Peer):
    def __init__(self, side: Side, extension: Any) -> None:
        kind = (
            wsp_connection.ConnectionType.CLIENT
            if side is CLIENT
            else wsp_connection.ConnectionType.SERVER
        )
        extensions = [extension] if extension is not None else []
        self.connection = wsp_connection.Connection(kind, extensions=extensions)
        self.parts: list[Any] = []

    def send(self, case: Case) -> bytes:
        out = b""
        for i, fragment in enumerate(case.fragments):
            fin = i == len(case.fragments) - 1
            if isinstance(fragment, str):
                event: Any = wsp_events.TextMessage(data=fragment, message_finished=fin)
            else:
                event = wsp_events.BytesMessage(data=fragment, message_finished=fin)
            out += self.connection.send(event)
        return out

    def receive(self, data: bytes) -> list[Message]:
        self.connection.receive_data(data)
        messages: list[Message] = []
        for event in self.connection.events():
            assert not isinstance(event, wsp_events.CloseConnection), event
            if isinstance(event, wsp_events.Message):
                self.parts.append(event.data)
                if event.message_finished:
                    if isinstance(event, wsp_events.TextMessage):
                        messages.append(("text", "".join(self.parts)))
                    else:
                        messages.append(("binary", b"".join(self.parts)))
                    self.parts = []
        return messages


# -- negotiating permessage-deflate with the same parameters on both ends ------

# The permessage-deflate parameters of each variant; None: no compression.
VARIANTS: dict[str, Optional[dict[str, Any]]] = {
    "plain": None,
    "deflate": {},
    "client-no-context-takeover": {"client_no_context_takeover": True},
    "no-context-takeover": {
        "server_no_context_takeover": True,
        "client_no_context_takeover": True,
    },
    # websockets and wsproto cannot compress with 8-bit windows.
    "small-windows": {"server_max_window_bits": 10, "client_max_window_bits": 9},
}


def _header_params(value: str) -> list[tuple[str, Optional[str]]]:
    [(name, params)] = parse_extensions(value)
    assert name == "permessage-deflate"
    return params


def negotiate(
    library: str, our_side: Side, params: Optional[dict[str, Any]]
) -> tuple[Optional[PerMessageDeflate], Any]:
    """Run the permessage-deflate negotiation between us and ``library``."""
    if params is None:
        return None, None
    options = DeflateOptions(min_size=0, **params)
    if library == "websockets":
        if our_side is CLIENT:
            factory = ServerPerMessageDeflateFactory(**params)
            response, theirs = factory.process_request_params(client_offer(options), [])
            ours = client_accept(response, options)
        else:
            client_factory = ClientPerMessageDeflateFactory(**params)
            result = server_negotiate([client_factory.get_request_params()], options)
            assert result is not None
            response, ours = result
            theirs = client_factory.process_response_params(response, [])
        # Both ends agree on what each side compresses with.
        local, remote = (
            ("client", "server") if our_side is CLIENT else ("server", "client")
        )
        assert theirs.remote_no_context_takeover == getattr(
            ours, f"{local}_no_context_takeover"
        )
        assert theirs.local_no_context_takeover == getattr(
            ours, f"{remote}_no_context_takeover"
        )
        assert theirs.remote_max_window_bits == getattr(
            ours, f"{local}_max_window_bits"
        )
        assert theirs.local_max_window_bits == getattr(
            ours, f"{remote}_max_window_bits"
        )
        return ours, theirs

    extension = wsp_extensions.PerMessageDeflate(**params)
    if our_side is CLIENT:
        offer = build_extensions([("permessage-deflate", client_offer(options))])
        response = extension.accept(offer)
        assert isinstance(response, str)
        ours = client_accept(_header_params("permessage-deflate; " + response), options)
    else:
        offer = extension.offer()
        assert isinstance(offer, str)
        result = server_negotiate(
            [_header_params("permessage-deflate; " + offer)], options
        )
        assert result is not None
        response_params, ours = result
        extension.finalize(build_extensions([("permessage-deflate", response_params)]))
    assert extension.enabled()
    for attribute in (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    ):
        assert getattr(extension, attribute) == getattr(ours, attribute), attribute
    return ours, extension


def make_pair(
    library: str, our_side: Side, params: Optional[dict[str, Any]] = None
) -> tuple[Ours, Peer]:
    ours_ext, their_ext = negotiate(library, our_side, params)
    their_side = SERVER if our_side is CLIENT else CLIENT
    theirs: Peer
    if library == "websockets":
        theirs = Websockets(their_side, their_ext)
    else:
        theirs = Wsproto(their_side, their_ext)
    return Ours(our_side, ours_ext), theirs


# -- messages both ways --------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("direction", ["ours-to-theirs", "theirs-to-ours"])
@pytest.mark.parametrize(
    "our_side", [CLIENT, SERVER], ids=["we-are-client", "we-are-server"]
)
@pytest.mark.parametrize("library", ["websockets", "wsproto"])
@pytest.mark.parametrize("group", GROUP_PARAMS)
def test_messages(
    group: str, library: str, our_side: Side, direction: str, variant: str
) -> None:
    ours, theirs = make_pair(library, our_side, VARIANTS[variant])
    sender, receiver = (
        (ours, theirs) if direction == "ours-to-theirs" else (theirs, ours)
    )
    cases = GROUPS[group]
    total = exchange(sender, receiver, cases)
    raw = sum(len(case.message[1]) for case in cases)
    if variant == "plain":
        assert total > raw
    else:
        # Compression did happen. Most of the small group is random bytes,
        # which do not compress: its text saves less.
        assert total < raw * (0.8 if group == "MiB" else 0.9)


def exchange(sender: Peer, receiver: Peer, cases: list[Case] = CASES) -> int:
    """Send every case; check each arrives intact. Return the bytes sent."""
    total = 0
    for case in cases:
        data = sender.send(case)
        total += len(data)
        # Deliver in two reads cut mid-stream, as a socket might.
        cut = len(data) // 3
        got = receiver.receive(data[:cut]) + receiver.receive(data[cut:])
        assert got == [case.message], case.name
    return total


@pytest.mark.parametrize(
    "our_side", [CLIENT, SERVER], ids=["we-are-client", "we-are-server"]
)
def test_messages_with_our_8_bit_window(our_side: Side) -> None:
    # We compress with a 256-byte window (see wsocket.deflate); websockets
    # inflates with that window, and compresses with 512 bytes for us.
    # wsproto supports neither.
    params = (
        {"server_max_window_bits": 9, "client_max_window_bits": 8}
        if our_side is CLIENT
        else {"server_max_window_bits": 8, "client_max_window_bits": 9}
    )
    ours, theirs = make_pair("websockets", our_side, params)
    local = "client" if our_side is CLIENT else "server"
    assert getattr(ours.protocol.deflate, f"{local}_max_window_bits") == 8
    exchange(ours, theirs)
    exchange(theirs, ours)


# -- control frames ------------------------------------------------------------


@pytest.mark.parametrize(
    "our_side", [CLIENT, SERVER], ids=["we-are-client", "we-are-server"]
)
def test_ping_pong_with_websockets(our_side: Side) -> None:
    ours, theirs = make_pair("websockets", our_side)
    assert isinstance(theirs, Websockets)
    # Their ping, our automatic pong.
    theirs.protocol.send_ping(b"from them")
    ours.protocol.receive_data(b"".join(theirs.protocol.data_to_send()))
    assert ours.protocol.events_received() == [Ping(b"from them")]
    theirs.protocol.receive_data(b"".join(ours.protocol.data_to_send()))
    [pong] = theirs.protocol.events_received()
    assert (pong.opcode, pong.data) == (ws_frames.Opcode.PONG, b"from them")
    # Our ping, their automatic pong.
    ours.protocol.send_ping(bytes(125))
    theirs.protocol.receive_data(b"".join(ours.protocol.data_to_send()))
    [ping] = theirs.protocol.events_received()
    assert (ping.opcode, ping.data) == (ws_frames.Opcode.PING, bytes(125))
    ours.protocol.receive_data(b"".join(theirs.protocol.data_to_send()))
    assert ours.protocol.events_received() == [Pong(bytes(125))]


@pytest.mark.parametrize(
    "our_side", [CLIENT, SERVER], ids=["we-are-client", "we-are-server"]
)
def test_ping_pong_with_wsproto(our_side: Side) -> None:
    ours, theirs = make_pair("wsproto", our_side)
    assert isinstance(theirs, Wsproto)
    theirs_conn = theirs.connection
    ours.protocol.receive_data(theirs_conn.send(wsp_events.Ping(payload=b"from them")))
    assert ours.protocol.events_received() == [Ping(b"from them")]
    theirs_conn.receive_data(b"".join(ours.protocol.data_to_send()))
    assert list(theirs_conn.events()) == [wsp_events.Pong(payload=b"from them")]
    ours.protocol.send_ping(b"p" * 125)
    theirs_conn.receive_data(b"".join(ours.protocol.data_to_send()))
    [ping] = list(theirs_conn.events())
    assert ping == wsp_events.Ping(payload=b"p" * 125)
    ours.protocol.receive_data(theirs_conn.send(ping.response()))
    assert ours.protocol.events_received() == [Pong(b"p" * 125)]


@pytest.mark.parametrize("initiator", ["ours", "theirs"])
@pytest.mark.parametrize(
    "our_side", [CLIENT, SERVER], ids=["we-are-client", "we-are-server"]
)
def test_close_handshake_with_websockets(our_side: Side, initiator: str) -> None:
    ours, theirs = make_pair("websockets", our_side)
    assert isinstance(theirs, Websockets)
    if initiator == "ours":
        ours.protocol.send_close(4000, "done ✓")
        theirs.protocol.receive_data(b"".join(ours.protocol.data_to_send()))
        their_out = theirs.protocol.data_to_send()
        ours.protocol.receive_data(b"".join(their_out))
        assert ours.protocol.events_received() == [Close(4000, "done ✓")]
        our_out = ours.protocol.data_to_send()
        code, reason = 4000, "done ✓"
    else:
        theirs.protocol.send_close(1001, "bye")
        ours.protocol.receive_data(b"".join(theirs.protocol.data_to_send()))
        assert ours.protocol.events_received() == [Close(1001, "bye")]
        our_out = ours.protocol.data_to_send()
        theirs.protocol.receive_data(b"".join(our_out))
        their_out = theirs.protocol.data_to_send()
        code, reason = 1001, "bye"  # we echo the code and the reason
    close_rcvd = theirs.protocol.close_rcvd
    assert close_rcvd is not None
    assert (close_rcvd.code, close_rcvd.reason) == (code, reason)
    assert ours.protocol.state is State.CLOSED
    # Both agree that the server closes TCP first (RFC 6455 7.1.1).
    assert (b"" in our_out) is (our_side is SERVER)
    assert (b"" in their_out) is (our_side is CLIENT)


@pytest.mark.parametrize("initiator", ["ours", "theirs"])
@pytest.mark.parametrize(
    "our_side", [CLIENT, SERVER], ids=["we-are-client", "we-are-server"]
)
def test_close_handshake_with_wsproto(our_side: Side, initiator: str) -> None:
    ours, theirs = make_pair("wsproto", our_side)
    assert isinstance(theirs, Wsproto)
    conn = theirs.connection
    if initiator == "ours":
        ours.protocol.send_close(1000, "done")
        conn.receive_data(b"".join(ours.protocol.data_to_send()))
        [event] = list(conn.events())
        assert event == wsp_events.CloseConnection(code=1000, reason="done")
        ours.protocol.receive_data(conn.send(event.response()))
        assert ours.protocol.events_received() == [Close(1000, "done")]
    else:
        ours.protocol.receive_data(
            conn.send(wsp_events.CloseConnection(code=3000, reason="x"))
        )
        assert ours.protocol.events_received() == [Close(3000, "x")]
        conn.receive_data(b"".join(d for d in ours.protocol.data_to_send() if d))
        [event] = list(conn.events())
        assert isinstance(event, wsp_events.CloseConnection)
        assert event.code == 3000
    assert conn.state is wsp_connection.ConnectionState.CLOSED


# -- single frames with websockets.frames.Frame --------------------------------

FRAME_CASES = [
    (Opcode.TEXT, b"Hello", True),
    (Opcode.TEXT, b"", True),
    (Opcode.BINARY, _some_bytes(125, 7), True),
    (Opcode.BINARY, _some_bytes(126, 8), False),
    (Opcode.BINARY, _some_bytes(65535, 9), True),
    (Opcode.CONT, _some_bytes(65536, 10), True),
    (Opcode.CONT, _some_bytes(70001, 11), False),
    (Opcode.PING, b"", True),
    (Opcode.PONG, bytes(125), True),
    (Opcode.CLOSE, b"\x03\xe8bye", True),
]


def parse_with_websockets(data: bytes, *, mask: bool) -> ws_frames.Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = ws_frames.Frame.parse(reader.read_exact, mask=mask)
    with pytest.raises(StopIteration) as exc_info:
        next(parser)
    frame: ws_frames.Frame = exc_info.value.value
    assert reader.buffer == b""  # every byte consumed
    return frame


@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize(
    ("opcode", "payload", "fin"),
    FRAME_CASES,
    ids=[f"{op.name}-{len(p)}-{'fin' if f else 'more'}" for op, p, f in FRAME_CASES],
)
def test_frames_ours_to_websockets(
    opcode: Opcode, payload: bytes, fin: bool, mask: bool
) -> None:
    data = Frame(opcode, payload, fin=fin).serialize(mask=mask)
    frame = parse_with_websockets(data, mask=mask)
    assert (int(frame.opcode), frame.data, frame.fin) == (int(opcode), payload, fin)
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False)


@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize(
    ("opcode", "payload", "fin"),
    FRAME_CASES,
    ids=[f"{op.name}-{len(p)}-{'fin' if f else 'more'}" for op, p, f in FRAME_CASES],
)
def test_frames_websockets_to_ours(
    opcode: Opcode, payload: bytes, fin: bool, mask: bool
) -> None:
    data = ws_frames.Frame(ws_frames.Opcode(int(opcode)), payload, fin).serialize(
        mask=mask
    )
    assert Frame.parse(data, mask=mask) == (Frame(opcode, payload, fin=fin), len(data))
