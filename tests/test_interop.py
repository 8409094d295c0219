"""Interoperability with independent implementations: websockets and wsproto.

* the ``websockets`` sync client against our test server;
* our client against the ``websockets`` sync server;
* ``wsproto`` as a client over a raw socket against our test server.

Each runs with and without permessage-deflate and over the frame length
boundaries of RFC 6455 section 5.2 (125/126 and 65535/65536 bytes).
"""

from __future__ import annotations

import collections
import os
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import pytest
from helpers import (
    MS,
    Background,
    FdTracker,
    GeventServerProcess,
    ServerThread,
    WebsocketsServer,
    wait_for,
)
from websockets.exceptions import ConnectionClosed as WebsocketsClosed
from websockets.exceptions import ConnectionClosedOK as WebsocketsClosedOK
from websockets.sync.client import connect as websockets_connect

import wsocket
from wsocket.connection import WebSocket
from wsocket.deflate import DeflateOptions

SIZES = [0, 125, 126, 65535, 65536, 4 * 2**20]
#: SIZES as parameters: the 4 MiB case takes seconds, so it runs in the
#: integration lane (and the full run).
SIZE_PARAMS = [
    *SIZES[:-1],
    pytest.param(SIZES[-1], marks=pytest.mark.integration, id=str(SIZES[-1])),
]
COMPRESSIONS = ["deflate", None]


def make_message(size: int, binary: bool) -> Any:
    if binary:
        return os.urandom(size)
    # Mostly ASCII with a multi-byte character at the end, when it fits.
    if size >= 3:
        return _text(size - 3) + "\u20ac"
    return _text(size)


def _text(size: int) -> str:
    # Not too compressible, so that deflate has real work to do.
    return os.urandom(size // 2 + 1).hex()[:size]


def command_echo(ws: WebSocket) -> None:
    """Echo, except "!close CODE REASON", which closes with that code."""
    while True:
        message = ws.receive()
        if message is None:
            return
        if isinstance(message, str) and message.startswith("!close "):
            _, code, reason = (message + " ").split(" ", 2)
            ws.close(int(code), reason.strip())
            return
        ws.send(message)


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    tracker = FdTracker()
    yield
    tracker.check()


def server_compression(compression: Optional[str]) -> Optional[DeflateOptions]:
    return DeflateOptions() if compression else None


# -- websockets client -> our server ------------------------------------------


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_websockets_client_echo(
    compression: Optional[str], binary: bool, size: int
) -> None:
    message = make_message(size, binary)
    with ServerThread(command_echo, max_message_size=None) as server:
        with websockets_connect(
            server.url, compression=compression, max_size=None, proxy=None
        ) as client:
            client.send(message)
            assert client.recv(timeout=20000 * MS) == message
            assert (
                client.response.headers.get("Sec-WebSocket-Extensions") is not None
            ) == (compression is not None)
        ws = server.websockets[0]
        server.wait_finished()
        assert (ws.protocol.deflate is not None) == (compression is not None)
        assert ws.close_code == 1000


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
def test_websockets_client_against_server_without_compression(
    compression: Optional[str],
) -> None:
    with ServerThread(command_echo, compression=None) as server:
        with websockets_connect(
            server.url, compression=compression, proxy=None
        ) as client:
            assert client.response.headers.get("Sec-WebSocket-Extensions") is None
            client.send("plain " * 100)
            assert client.recv(timeout=5000 * MS) == "plain " * 100


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
@pytest.mark.parametrize(
    "fragments",
    [
        ["frag", "men", "ted ", "\u20ac"],
        [b"\x00\x01", b"", b"\x02" * 70000, b"end"],
        ["", "only-last"],
    ],
    ids=["text", "binary", "empty-first"],
)
def test_websockets_client_fragmented_messages(
    compression: Optional[str], fragments: list[Any]
) -> None:
    received: list[Any] = []

    def record(ws: WebSocket) -> None:
        for message in ws:
            received.append(message)
            ws.send(message)

    whole = fragments[0][:0].join(fragments)
    with ServerThread(record, compression=server_compression(compression)) as server:
        with websockets_connect(
            server.url, compression=compression, proxy=None
        ) as client:
            client.send(iter(fragments))
            assert client.recv(timeout=5000 * MS) == whole
            client.send("after")
            assert client.recv(timeout=5000 * MS) == "after"
        server.wait_finished()
    assert received == [whole, "after"]


def test_websockets_client_pings_are_answered() -> None:
    with ServerThread(command_echo) as server:
        with websockets_connect(server.url, proxy=None) as client:
            # The handler is blocked in receive(): the pongs come from there.
            pongs = [client.ping(f"ping {i}") for i in range(5)]
            assert all(pong.wait(5000 * MS) for pong in pongs)
            client.send("still fine")
            assert client.recv(timeout=5000 * MS) == "still fine"
            assert client.ping(b"").wait(5000 * MS)


def test_websockets_client_keepalive_against_our_server() -> None:
    with ServerThread(command_echo) as server:
        with websockets_connect(
            server.url, ping_interval=50 * MS, ping_timeout=2000 * MS, proxy=None
        ) as client:
            latency = client.latency
            wait_for(lambda: client.latency != latency)  # a keepalive pong came back
            client.send("x")
            assert client.recv(timeout=5000 * MS) == "x"


@pytest.mark.parametrize(
    "code, reason", [(1000, ""), (1001, "bye"), (4001, "app reason")]
)
def test_websockets_client_closes_with_code(code: int, reason: str) -> None:
    with ServerThread(command_echo) as server:
        with websockets_connect(server.url, proxy=None) as client:
            client.send("x")
            assert client.recv(timeout=5000 * MS) == "x"
            client.close(code, reason)
        server.wait_finished()
        ws = server.websockets[0]
        assert (ws.close_code, ws.close_reason) == (code, reason)


@pytest.mark.parametrize(
    "code, reason", [(1000, "done"), (1001, ""), (4002, "server says bye")]
)
def test_our_server_closes_websockets_client(code: int, reason: str) -> None:
    with ServerThread(command_echo) as server:
        with websockets_connect(server.url, proxy=None) as client:
            client.send(f"!close {code} {reason}")
            with pytest.raises(WebsocketsClosed) as excinfo:
                client.recv(timeout=5000 * MS)
            assert excinfo.value.rcvd is not None
            assert (excinfo.value.rcvd.code, excinfo.value.rcvd.reason) == (
                code,
                reason,
            )
            assert isinstance(excinfo.value, WebsocketsClosedOK) == (
                code in (1000, 1001)
            )
        server.wait_finished()


def test_websockets_client_subprotocol() -> None:
    with ServerThread(command_echo, subprotocols=["v2", "v1"]) as server:
        with websockets_connect(
            server.url, subprotocols=["v1", "v2"], proxy=None
        ) as client:
            assert client.subprotocol == "v2"
        with websockets_connect(server.url, subprotocols=["v1"], proxy=None) as client:
            assert client.subprotocol == "v1"
        server.wait_finished(2)
        assert [ws.subprotocol for ws in server.websockets] == ["v2", "v1"]


def test_websockets_client_many_messages_both_ways() -> None:
    with ServerThread(command_echo) as server:
        with websockets_connect(server.url, proxy=None) as client:
            # websockets' send() returns before the server answers: many
            # messages are in flight at once.
            messages = [f"{i}:" + "m" * (i % 300) for i in range(2000)]
            sender = Background(lambda: [client.send(m) for m in messages])
            received = [client.recv(timeout=5000 * MS) for _ in messages]
            sender.result()
            assert received == messages


@pytest.mark.integration  # a gevent server in a subprocess
def test_websockets_client_against_gevent_server() -> None:
    pytest.importorskip("gevent", reason="gevent is not installed")
    with GeventServerProcess() as server:
        with websockets_connect(server.url, max_size=None, proxy=None) as client:
            for size in SIZES:
                message = make_message(size, binary=size % 2 == 0)
                client.send(message)
                assert client.recv(timeout=20000 * MS) == message
            client.send(iter(["gev", "ent"]))
            assert client.recv(timeout=5000 * MS) == "gevent"
            assert client.ping().wait(5000 * MS)


# -- our client -> websockets server ------------------------------------------


def websockets_command_echo(connection: Any) -> None:
    for message in connection:
        if isinstance(message, str) and message.startswith("!close "):
            _, code, reason = (message + " ").split(" ", 2)
            connection.close(int(code), reason.strip())
            return
        if isinstance(message, str) and message.startswith("!fragments "):
            connection.send(iter(message.split(" ")[1:]))
            continue
        if message == "!ping":
            connection.ping(b"from server").wait(5)
            connection.send("pinged")
            continue
        connection.send(message)


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_our_client_against_websockets_server(
    compression: Optional[str], binary: bool, size: int
) -> None:
    message = make_message(size, binary)
    with WebsocketsServer(websockets_command_echo, max_size=None) as server:
        with wsocket.connect(
            server.url, compression=compression, max_message_size=None
        ) as ws:
            ws.send(message)
            assert ws.receive(timeout=20000 * MS) == message
            assert (ws.protocol.deflate is not None) == (compression is not None)
        assert ws.close_code == 1000
        connection = server.connections[0]
        wait_for(lambda: connection.close_code is not None)
        assert connection.close_code == 1000


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
def test_our_client_receives_fragmented_messages(compression: Optional[str]) -> None:
    with WebsocketsServer(websockets_command_echo) as server:
        with wsocket.connect(server.url, compression=compression) as ws:
            ws.send("!fragments one two three")
            assert ws.receive(timeout=5000 * MS) == "onetwothree"


def test_our_client_answers_server_pings_while_receiving() -> None:
    with WebsocketsServer(websockets_command_echo) as server:
        with wsocket.connect(server.url) as ws:
            ws.send("!ping")
            # The server sends "pinged" only after our pong arrived.
            assert ws.receive(timeout=5000 * MS) == "pinged"


@pytest.mark.parametrize("code, reason", [(1000, ""), (4003, "x" * 123)])
def test_our_client_and_websockets_server_close_codes(code: int, reason: str) -> None:
    with WebsocketsServer(websockets_command_echo) as server:
        ws = wsocket.connect(server.url)
        ws.close(code, reason)
        connection = server.connections[0]
        wait_for(lambda: connection.close_code is not None)
        assert (connection.close_code, connection.close_reason) == (code, reason)

        ws = wsocket.connect(server.url)
        ws.send(f"!close {code} {reason}")
        assert ws.receive(timeout=5000 * MS) is None
        assert (ws.close_code, ws.close_reason) == (code, reason)


# -- wsproto client -> our server ---------------------------------------------


class WsprotoClient:
    """A client made of wsproto's state machine and a blocking socket."""

    def __init__(
        self,
        port: int,
        *,
        extensions: Sequence[Any] = (),
        subprotocols: Sequence[str] = (),
    ) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, Request

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5000 * MS)
        self.conn = WSConnection(ConnectionType.CLIENT)
        self.events: collections.deque[Any] = collections.deque()
        self.send(
            Request(
                host=f"127.0.0.1:{port}",
                target="/wsproto",
                extensions=list(extensions),
                subprotocols=list(subprotocols),
            )
        )
        event = self.next_event()
        assert isinstance(event, AcceptConnection), event
        self.accepted = event

    def send(self, event: Any) -> None:
        self.sock.sendall(self.conn.send(event))

    def next_event(self, timeout: float = 5000 * MS) -> Any:
        deadline = time.monotonic() + timeout
        while not self.events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("wsproto client: no event in time")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                # wsproto reports EOF as CloseConnection(1006) even after a
                # closing handshake; the tests want to see the EOF itself.
                raise EOFError("wsproto client: connection closed")
            self.conn.receive_data(data)
            self.events.extend(self.conn.events())
        return self.events.popleft()

    def receive_message(self, timeout: float = 5000 * MS) -> Any:
        """Return the next whole message, answering pings on the way."""
        from wsproto.events import BytesMessage, Ping, TextMessage

        parts: list[Any] = []
        while True:
            event = self.next_event(timeout)
            if isinstance(event, Ping):
                self.send(event.response())
            elif isinstance(event, (TextMessage, BytesMessage)):
                parts.append(event.data)
                if event.message_finished:
                    return parts[0][:0].join(parts)
            else:
                raise AssertionError(f"unexpected event {event!r}")

    def close(self) -> None:
        self.sock.close()


def wsproto_extensions(compression: Optional[str]) -> list[Any]:
    from wsproto.extensions import PerMessageDeflate

    return [PerMessageDeflate()] if compression else []


@pytest.fixture
def wsproto_server() -> Iterator[ServerThread]:
    pytest.importorskip("wsproto", reason="wsproto is not installed")
    with ServerThread(command_echo, max_message_size=None) as server:
        yield server


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
@pytest.mark.parametrize(
    "sizes",
    [
        SIZES[:-1],
        # Seconds long: in the integration lane (and the full run).
        pytest.param(SIZES[-1:], marks=pytest.mark.integration, id=str(SIZES[-1])),
    ],
    ids=["up-to-65536", str(SIZES[-1])],
)
def test_wsproto_client_messages(
    wsproto_server: ServerThread, compression: Optional[str], sizes: list[int]
) -> None:
    from wsproto.events import BytesMessage, TextMessage

    client = WsprotoClient(
        wsproto_server.port, extensions=wsproto_extensions(compression)
    )
    try:
        negotiated = [ext.name for ext in client.accepted.extensions]
        assert negotiated == (["permessage-deflate"] if compression else [])
        for size in sizes:
            for binary in (False, True):
                message = make_message(size, binary)
                event = (
                    BytesMessage(data=message) if binary else TextMessage(data=message)
                )
                client.send(event)
                assert client.receive_message(20000 * MS) == message
    finally:
        client.close()
    wsproto_server.wait_finished()
    ws = wsproto_server.websockets[0]
    assert ws.environ["PATH_INFO"] == "/wsproto"
    assert (ws.protocol.deflate is not None) == (compression is not None)


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
def test_wsproto_client_fragmented_messages(
    wsproto_server: ServerThread, compression: Optional[str]
) -> None:
    from wsproto.events import BytesMessage, TextMessage

    client = WsprotoClient(
        wsproto_server.port, extensions=wsproto_extensions(compression)
    )
    try:
        for chunk in ["fra", "gmen", "ted \u20ac", ""]:
            client.send(TextMessage(data=chunk, message_finished=chunk == ""))
        assert client.receive_message() == "fragmented \u20ac"
        chunks = [b"\x00" * 1000, os.urandom(70000), b"tail"]
        for index, chunk in enumerate(chunks):
            client.send(
                BytesMessage(data=chunk, message_finished=index == len(chunks) - 1)
            )
        assert client.receive_message() == b"".join(chunks)
    finally:
        client.close()


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
def test_wsproto_client_ping_and_close(
    wsproto_server: ServerThread, compression: Optional[str]
) -> None:
    from wsproto.events import CloseConnection, Ping, Pong, TextMessage

    client = WsprotoClient(
        wsproto_server.port, extensions=wsproto_extensions(compression)
    )
    try:
        client.send(Ping(payload=b"wsproto ping"))
        event = client.next_event()
        assert isinstance(event, Pong) and event.payload == b"wsproto ping"
        # A ping in the middle of a fragmented message.
        client.send(TextMessage(data="half", message_finished=False))
        client.send(Ping(payload=b"mid"))
        event = client.next_event()
        assert isinstance(event, Pong) and event.payload == b"mid"
        client.send(TextMessage(data=" and half", message_finished=True))
        assert client.receive_message() == "half and half"
        client.send(CloseConnection(code=4005, reason="wsproto leaves"))
        event = client.next_event()
        assert isinstance(event, CloseConnection) and event.code == 4005
        # Then the server closes TCP.
        with pytest.raises(EOFError):
            client.next_event()
    finally:
        client.close()
    wsproto_server.wait_finished()
    ws = wsproto_server.websockets[0]
    assert (ws.close_code, ws.close_reason) == (4005, "wsproto leaves")


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=["deflate", "no-compression"])
def test_our_server_closes_wsproto_client(
    wsproto_server: ServerThread, compression: Optional[str]
) -> None:
    from wsproto.events import CloseConnection, TextMessage

    client = WsprotoClient(
        wsproto_server.port, extensions=wsproto_extensions(compression)
    )
    try:
        client.send(TextMessage(data="!close 4006 server leaves"))
        event = client.next_event()
        assert isinstance(event, CloseConnection)
        assert (event.code, event.reason) == (4006, "server leaves")
        client.send(event.response())
        with pytest.raises(EOFError):
            client.next_event()
    finally:
        client.close()
    wsproto_server.wait_finished()
    assert wsproto_server.websockets[0].close_code == 4006


def test_wsproto_client_subprotocol(wsproto_server: ServerThread) -> None:
    wsproto_server.options.subprotocols = ["b", "a"]
    client = WsprotoClient(wsproto_server.port, subprotocols=["a", "b"])
    try:
        assert client.accepted.subprotocol == "b"
    finally:
        client.close()


def test_first_frame_in_the_same_packet_as_the_request(
    wsproto_server: ServerThread,
) -> None:
    # A client may send frames right behind its request; the server must
    # hand the bytes it read past the request head to the connection.
    from helpers import encode_frame
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage

    conn = WSConnection(ConnectionType.CLIENT)
    request = conn.send(Request(host="127.0.0.1", target="/early"))
    address = ("127.0.0.1", wsproto_server.port)
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(request + encode_frame(0x1, b"right behind"))
        events: list[Any] = []
        deadline = time.monotonic() + 5000 * MS
        while not any(isinstance(e, TextMessage) for e in events):
            assert time.monotonic() < deadline, events
            data = sock.recv(65536)
            assert data, events
            conn.receive_data(data)
            events.extend(conn.events())
    assert isinstance(events[0], AcceptConnection)
    assert [e.data for e in events if isinstance(e, TextMessage)] == ["right behind"]
