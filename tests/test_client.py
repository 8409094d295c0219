"""Tests for wsocket.client: connect() against real servers.

Each behaviour is checked against two servers: the test server of
``helpers.py`` (our own handshake and connection code) and the ``websockets``
library's sync server, an independent implementation. Servers that misbehave
on purpose are raw TCP servers.
"""

from __future__ import annotations

import contextlib
import http
import os
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

import pytest
from helpers import (
    MS,
    RESPONSE_HEADERS_KEY,
    Background,
    FdTracker,
    GeventServerProcess,
    RawServer,
    ServerThread,
    WebsocketsServer,
    make_certificate,
    read_request_head,
    wait_for,
)

import wsocket
from wsocket.deflate import DeflateOptions
from wsocket.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    NegotiationError,
)

KINDS = ["wsocket", "websockets"]


# -- A server-side view common to both servers --------------------------------


class Peer:
    """What a test needs from the server side of one connection."""

    def __init__(self, kind: str, connection: Any) -> None:
        self.kind = kind
        self.connection = connection

    def recv(self, timeout: float = 5000 * MS) -> Any:
        if self.kind == "wsocket":
            return self.connection.receive(timeout=timeout)
        from websockets.exceptions import ConnectionClosed

        try:
            return self.connection.recv(timeout=timeout)
        except ConnectionClosed:
            return None

    def send(self, message: Any) -> None:
        self.connection.send(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.connection.close(code, reason)

    @property
    def close_code(self) -> Optional[int]:
        return self.connection.close_code

    @property
    def close_reason(self) -> Optional[str]:
        return self.connection.close_reason

    @property
    def subprotocol(self) -> Optional[str]:
        return self.connection.subprotocol

    def request_header(self, name: str) -> Optional[str]:
        """The request header, repeated values joined with ", "."""
        if self.kind == "wsocket":
            key = "HTTP_" + name.upper().replace("-", "_")
            return self.connection.environ.get(key)
        values = self.connection.request.headers.get_all(name)
        return ", ".join(values) if values else None

    @property
    def target(self) -> str:
        if self.kind == "wsocket":
            environ = self.connection.environ
            query = environ["QUERY_STRING"]
            return environ["PATH_INFO"] + (f"?{query}" if query else "")
        return self.connection.request.path

    def response_header(self, name: str) -> Optional[str]:
        if self.kind == "wsocket":
            headers = self.connection.environ[RESPONSE_HEADERS_KEY]
            values = [value for key, value in headers if key.lower() == name.lower()]
        else:
            values = self.connection.response.headers.get_all(name)
        return ", ".join(values) if values else None


def peer_echo(peer: Peer) -> None:
    """Echo, except for commands: "!close CODE REASON" closes the connection."""
    while True:
        message = peer.recv(timeout=30000 * MS)
        if message is None:
            return
        if isinstance(message, str) and message.startswith("!close "):
            _, code, reason = (message + " ").split(" ", 2)
            peer.close(int(code), reason.strip())
            return
        peer.send(message)


class RunningServer:
    def __init__(self, kind: str, url: str, peers: list[Peer]) -> None:
        self.kind = kind
        self.url = url
        self.peers = peers

    def peer(self, index: int = 0) -> Peer:
        wait_for(lambda: len(self.peers) > index)
        return self.peers[index]


@contextlib.contextmanager
def run_server(
    kind: str,
    handler: Callable[[Peer], Any] = peer_echo,
    *,
    subprotocols: Sequence[str] = (),
    compression: bool = True,
    max_size: Optional[int] = 2**20,
    origins: Optional[Sequence[Optional[str]]] = None,
    not_found: str = "/missing",
    ssl_context: Optional[ssl.SSLContext] = None,
) -> Iterator[RunningServer]:
    """Run ``handler`` on a server of the given kind; yield its URL and peers."""
    peers: list[Peer] = []

    def wrap(connection: Any) -> None:
        peer = Peer(kind, connection)
        peers.append(peer)
        handler(peer)

    if kind == "wsocket":

        def reject(environ: dict[str, Any]) -> Optional[HandshakeError]:
            if environ["PATH_INFO"] == not_found:
                return HandshakeError("no such resource", 404)
            return None

        with ServerThread(
            wrap,
            subprotocols=subprotocols,
            compression=DeflateOptions() if compression else None,
            max_message_size=max_size,
            origins=origins,
            reject=reject,
            ssl_context=ssl_context,
        ) as server:
            yield RunningServer(kind, server.url, peers)
    else:

        def process_request(connection: Any, request: Any) -> Any:
            if request.path.split("?")[0] == not_found:
                return connection.respond(
                    http.HTTPStatus.NOT_FOUND, "no such resource\n"
                )
            return None

        with WebsocketsServer(
            wrap,
            subprotocols=list(subprotocols) or None,
            compression="deflate" if compression else None,
            max_size=max_size,
            origins=origins,
            process_request=process_request,
            ssl=ssl_context,
        ) as server:
            yield RunningServer(kind, server.url, peers)


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    tracker = FdTracker()
    yield
    tracker.check()


# -- Messages -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_text_and_binary_echo(kind: str) -> None:
    with run_server(kind) as server:
        with wsocket.connect(server.url + "/echo") as ws:
            for message in ["hello", "caf\xe9 \u2615", b"\x00\x01\xff", "", b""]:
                ws.send(message)
                answer = ws.receive(timeout=5000 * MS)
                assert type(answer) is type(message) and answer == message
        assert ws.close_code == 1000
        assert server.peer().target == "/echo"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "size",
    [
        125, 126, 65535, 65536,
        # Seconds long: in the integration lane (and the full run).
        pytest.param(4 * 2**20, marks=pytest.mark.integration, id=str(4 * 2**20)),
    ],
)  # fmt: skip
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_large_messages(kind: str, size: int, binary: bool) -> None:
    message: Any = os.urandom(size) if binary else "\x7e" * (size - 3) + "\u20ac"
    with run_server(kind, max_size=None) as server:
        with wsocket.connect(server.url, max_message_size=None) as ws:
            ws.send(message)
            assert ws.receive(timeout=20000 * MS) == message


@pytest.mark.parametrize("kind", KINDS)
def test_message_over_client_limit_fails_with_1009(kind: str) -> None:
    def send_big(peer: Peer) -> None:
        assert peer.recv() == "go"
        peer.send(b"x" * 2000)
        assert peer.recv() is None

    with run_server(kind, send_big) as server:
        ws = wsocket.connect(server.url, max_message_size=1000)
        ws.send("go")
        assert ws.receive(timeout=5000 * MS) is None
        assert ws.close_code == 1009
        wait_for(lambda: server.peer().close_code == 1009)


@pytest.mark.parametrize("kind", KINDS)
def test_query_string_reaches_the_server(kind: str) -> None:
    with run_server(kind) as server:
        with wsocket.connect(server.url + "/chat/room%201?user=ann&x=1") as ws:
            ws.send("ping")
            assert ws.receive(timeout=5000 * MS) == "ping"
        target = server.peer().target
    if kind == "wsocket":
        assert target == "/chat/room 1?user=ann&x=1"  # PATH_INFO is unquoted
    else:
        assert target == "/chat/room%201?user=ann&x=1"


# -- Negotiation --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_subprotocol_chosen_by_server(kind: str) -> None:
    with run_server(kind, subprotocols=["chat.v2", "chat.v1"]) as server:
        with wsocket.connect(server.url, subprotocols=["chat.v1", "chat.v2"]) as ws:
            ws.send("x")
            assert ws.receive(timeout=5000 * MS) == "x"
            # Both servers pick by their own preference.
            assert ws.subprotocol == "chat.v2"
        assert server.peer().subprotocol == "chat.v2"
        assert (
            server.peer().request_header("Sec-WebSocket-Protocol") == "chat.v1, chat.v2"
        )


@pytest.mark.parametrize("kind", KINDS)
def test_subprotocol_none_when_server_has_none(kind: str) -> None:
    with run_server(kind) as server:
        with wsocket.connect(server.url, subprotocols=["chat"]) as ws:
            assert ws.subprotocol is None
        assert server.peer().response_header("Sec-WebSocket-Protocol") is None


def test_subprotocol_without_overlap() -> None:
    # Our server continues without a subprotocol...
    with run_server("wsocket", subprotocols=["a"]) as server:
        with wsocket.connect(server.url, subprotocols=["b"]) as ws:
            assert ws.subprotocol is None
    # ...the websockets server refuses the handshake.
    with run_server("websockets", subprotocols=["a"]) as server:
        with pytest.raises(HandshakeError) as excinfo:
            wsocket.connect(server.url, subprotocols=["b"])
        assert excinfo.value.status == 400


def test_server_selecting_unoffered_subprotocol_is_refused() -> None:
    def answer(sock: socket.socket) -> None:
        from wsocket.utils import accept_key

        head, _ = read_request_head(sock, 5)
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_key(key).encode()
            + b"\r\nSec-WebSocket-Protocol: surprise\r\n\r\n"
        )
        sock.recv(1024)

    with RawServer(answer) as server:
        with pytest.raises(NegotiationError):
            wsocket.connect(server.url, subprotocols=["chat"], timeout=5000 * MS)


@pytest.mark.parametrize("kind", KINDS)
def test_extra_headers_and_origin_visible_to_server(kind: str) -> None:
    # The page's site is not the server's host: it must be allowed.
    with run_server(kind, origins=["https://app.example", None]) as server:
        headers = [
            ("Authorization", "Bearer t0ken"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
        ]
        with wsocket.connect(server.url, headers=headers, origin="https://app.example"):
            pass
        with wsocket.connect(server.url, headers={"X-Mapping": "yes"}):
            pass
        first, second = server.peer(0), server.peer(1)
        assert first.request_header("Authorization") == "Bearer t0ken"
        assert first.request_header("X-Multi") == "one, two"
        assert first.request_header("Origin") == "https://app.example"
        assert second.request_header("X-Mapping") == "yes"
        assert second.request_header("Origin") is None


def test_reserved_headers_are_refused() -> None:
    for name in ["Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Protocol"]:
        with pytest.raises(ValueError):
            wsocket.connect("ws://127.0.0.1:1/", headers={name: "x"})
    with pytest.raises(ValueError):
        wsocket.connect("ws://127.0.0.1:1/", headers={"X-Bad": "a\r\nInjected: 1"})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("client_compression", ["deflate", None])
@pytest.mark.parametrize(
    "server_compression", [True, False], ids=["server-on", "server-off"]
)
def test_compression_negotiation(
    kind: str, client_compression: Optional[str], server_compression: bool
) -> None:
    message = "compressible " * 20000
    with run_server(kind, compression=server_compression) as server:
        with wsocket.connect(server.url, compression=client_compression) as ws:
            ws.send(message)
            assert ws.receive(timeout=5000 * MS) == message
            ws.send(b"\x01" * 50000)
            assert ws.receive(timeout=5000 * MS) == b"\x01" * 50000
        peer = server.peer()
        offered = peer.request_header("Sec-WebSocket-Extensions")
        accepted = peer.response_header("Sec-WebSocket-Extensions")
    expected = client_compression is not None and server_compression
    if client_compression is None:
        assert offered is None
    else:
        assert offered is not None and offered.startswith("permessage-deflate")
    if expected:
        assert accepted is not None and accepted.startswith("permessage-deflate")
        assert ws.protocol.deflate is not None
    else:
        assert accepted is None
        assert ws.protocol.deflate is None


def test_compression_options_object() -> None:
    options = DeflateOptions(client_no_context_takeover=True, min_size=0)
    with run_server("websockets") as server:
        with wsocket.connect(server.url, compression=options) as ws:
            ws.send("a")
            assert ws.receive(timeout=5000 * MS) == "a"
        accepted = server.peer().response_header("Sec-WebSocket-Extensions")
    assert accepted is not None and "client_no_context_takeover" in accepted


# -- Closing ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "code, reason", [(1000, ""), (1001, "leaving"), (4001, "client bye")]
)
def test_client_closes_with_code(kind: str, code: int, reason: str) -> None:
    with run_server(kind) as server:
        ws = wsocket.connect(server.url)
        ws.send("x")
        assert ws.receive(timeout=5000 * MS) == "x"
        start = time.monotonic()
        ws.close(code, reason)
        assert time.monotonic() - start < 3000 * MS
        peer = server.peer()
        wait_for(lambda: peer.close_code is not None)
        assert (peer.close_code, peer.close_reason) == (code, reason)
        assert ws.close_code == code
        with pytest.raises(
            ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
        ):
            ws.send("late")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "code, reason", [(1000, "done"), (1001, ""), (4002, "server bye")]
)
def test_server_closes_with_code(kind: str, code: int, reason: str) -> None:
    with run_server(kind) as server:
        ws = wsocket.connect(server.url)
        ws.send(f"!close {code} {reason}")
        assert ws.receive(timeout=5000 * MS) is None
        assert (ws.close_code, ws.close_reason) == (code, reason)
        assert ws.closed
        assert ws.sock.fileno() == -1  # the socket is released


# -- Handshake failures -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_server_refuses_with_404(kind: str) -> None:
    with run_server(kind) as server:
        with pytest.raises(HandshakeError) as excinfo:
            wsocket.connect(server.url + "/missing")
    assert excinfo.value.status == 404
    assert "404" in str(excinfo.value)


@pytest.mark.parametrize("kind", KINDS)
def test_server_refuses_origin_with_403(kind: str) -> None:
    with run_server(kind, origins=["https://good.example"]) as server:
        with pytest.raises(HandshakeError) as excinfo:
            wsocket.connect(server.url, origin="https://evil.example")
        assert excinfo.value.status == 403
        with wsocket.connect(server.url, origin="https://good.example") as ws:
            ws.send("welcome")
            assert ws.receive(timeout=5000 * MS) == "welcome"


def _read_request_then(
    action: Callable[[socket.socket], None],
) -> Callable[[socket.socket], None]:
    def handler(sock: socket.socket) -> None:
        read_request_head(sock, 5)
        action(sock)

    return handler


@pytest.mark.parametrize(
    "response",
    [
        b"",
        b"HTTP/1.1 101 Switching",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
    ],
    ids=["nothing", "partial-status-line", "partial-headers"],
)
def test_server_closes_mid_handshake(response: bytes) -> None:
    def answer(sock: socket.socket) -> None:
        sock.sendall(response)
        sock.shutdown(socket.SHUT_WR)

    with RawServer(_read_request_then(answer)) as server:
        start = time.monotonic()
        with pytest.raises(HandshakeError) as excinfo:
            wsocket.connect(server.url, timeout=5000 * MS)
        assert time.monotonic() - start < 3000 * MS
    assert excinfo.value.status == 0


@pytest.mark.parametrize(
    "response, status",
    [
        (b"HELLO\r\n\r\n", 0),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n",
            101,
        ),
    ],
    ids=["garbage", "plain-200", "wrong-accept"],
)
def test_server_answers_wrongly(response: bytes, status: int) -> None:
    def answer(sock: socket.socket) -> None:
        sock.sendall(response)
        sock.recv(1024)

    with RawServer(_read_request_then(answer)) as server:
        with pytest.raises(HandshakeError) as excinfo:
            wsocket.connect(server.url, timeout=5000 * MS)
    assert excinfo.value.status == status


def test_handshake_timeout_against_silent_server() -> None:
    stop: list[bool] = []

    def silent(sock: socket.socket) -> None:
        # Accept TCP, read the request, answer nothing until the test ends.
        read_request_head(sock, 5)
        wait_for(lambda: stop, 10000 * MS)

    with RawServer(silent) as server:
        timeout = 300 * MS
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            wsocket.connect(server.url, timeout=timeout)
        elapsed = time.monotonic() - start
        stop.append(True)
    assert elapsed < timeout + 2000 * MS


def test_connection_refused() -> None:
    # A bound socket that does not listen refuses connections.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            wsocket.connect(f"ws://127.0.0.1:{port}/", timeout=5000 * MS)
        with pytest.raises(OSError):
            wsocket.connect(f"ws://127.0.0.1:{port}/", timeout=5000 * MS)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "https://127.0.0.1/",
        "127.0.0.1:8080",
        "ws://127.0.0.1/path#fragment",
        "ws://127.0.0.1/#",
        "ws:///no-host",
        "ws://user:secret@127.0.0.1/",
        "ws://127.0.0.1:99999/",
        "ws://127.0.0.1:0/",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        wsocket.connect(url, timeout=1000 * MS)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="wss"):
        wsocket.connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match="compression"):
        wsocket.connect("ws://127.0.0.1:1/", compression="gzip")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wsocket.connect("ws://127.0.0.1:1/", subprotocols=["not a token"])


def _accept_by_hand(sock: socket.socket, after: bytes = b"") -> None:
    """Answer the upgrade request with a valid 101, followed by ``after``."""
    from wsocket.utils import accept_key

    head, _ = read_request_head(sock, 5)
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
        + accept_key(key).encode()
        + b"\r\n\r\n"
        + after
    )


def test_response_head_arriving_byte_by_byte() -> None:
    from wsocket.utils import accept_key

    def answer(sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head, _ = read_request_head(sock, 5)
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        response = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept_key(key).encode()
            + b"\r\n\r\n\x81\x02hi"
        )
        for i in range(len(response)):
            sock.send(response[i : i + 1])
        sock.recv(1024)

    with RawServer(answer) as server:
        ws = wsocket.connect(server.url, compression=None, timeout=5000 * MS)
        assert ws.receive(timeout=5000 * MS) == "hi"
        ws.abort()


def test_frames_sent_with_the_101_response_are_received() -> None:
    from helpers import RawPeer, encode_frame

    closes: list[Any] = []

    def answer(sock: socket.socket) -> None:
        # The first messages travel in the same write as the response head.
        _accept_by_hand(
            sock,
            encode_frame(0x1, b"welcome", mask=False)
            + encode_frame(0x2, b"\x01", mask=False),
        )
        raw = RawPeer(sock, mask=False)
        frame = raw.read_until(lambda f: f.opcode == 0x8)
        closes.append(frame.close_code)
        raw.send_frame(0x8, frame.payload[:2])
        sock.close()

    with RawServer(answer) as server:
        ws = wsocket.connect(server.url, compression=None)
        assert ws.receive(timeout=5000 * MS) == "welcome"
        assert ws.receive(timeout=5000 * MS) == b"\x01"
        ws.close()
        assert ws.close_code == 1000
        wait_for(lambda: closes == [1000])


# -- TLS ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: Any) -> Any:
    files = make_certificate(str(tmp_path_factory.mktemp("tls")))
    if files is None:
        pytest.skip(
            "neither the cryptography package nor the openssl command is available"
        )
    return files


@pytest.fixture
def tls(certificate: Any) -> Any:
    certfile, keyfile = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certfile, keyfile)
    client_context = ssl.create_default_context(cafile=certfile)
    return server_context, client_context


@pytest.mark.parametrize("kind", KINDS)
def test_wss_echo(kind: str, tls: Any) -> None:
    server_context, client_context = tls
    with run_server(kind, ssl_context=server_context, max_size=None) as server:
        assert server.url.startswith("wss://")
        with wsocket.connect(
            server.url + "/secure", ssl=client_context, max_message_size=None
        ) as ws:
            assert isinstance(ws.sock, ssl.SSLSocket)
            for message in ["over tls", b"\x00" * 100000, os.urandom(2**20)]:
                ws.send(message)
                assert ws.receive(timeout=5000 * MS) == message
        assert server.peer().target == "/secure"


@pytest.mark.parametrize("kind", KINDS)
def test_wss_buffered_records_and_timeouts(kind: str, tls: Any) -> None:
    # Several messages arrive in one TLS read: receive(timeout=) must find
    # them in the TLS buffer, not wait for the socket to be readable again.
    server_context, client_context = tls

    def burst(peer: Peer) -> None:
        assert peer.recv() == "go"
        for i in range(20):
            peer.send(f"m{i}")
        assert peer.recv() is None

    with run_server(kind, burst, ssl_context=server_context) as server:
        with wsocket.connect(server.url, ssl=client_context) as ws:
            ws.send("go")
            received = [ws.receive(timeout=2000 * MS) for _ in range(20)]
            assert received == [f"m{i}" for i in range(20)]
            with pytest.raises(TimeoutError):
                ws.receive(timeout=50 * MS)


@pytest.mark.parametrize("kind", KINDS)
def test_wss_concurrent_senders_and_reader(kind: str, tls: Any) -> None:
    # Writes from several threads while another thread reads, over one TLS
    # connection.
    server_context, client_context = tls
    threads, count = 4, 200
    with run_server(kind, ssl_context=server_context) as server:
        with wsocket.connect(server.url, ssl=client_context) as ws:
            received: list[Any] = []
            reader = Background(
                lambda: [
                    received.append(ws.receive(timeout=10000 * MS))
                    for _ in range(threads * count)
                ]
            )

            def send_all(tid: int) -> None:
                for seq in range(count):
                    ws.send(f"{tid}:{seq}:" + "t" * (seq % 200))

            senders = [Background(send_all, tid) for tid in range(threads)]
            for sender in senders:
                sender.result(20000 * MS)
            reader.result(20000 * MS)
    for tid in range(threads):
        mine = [m for m in received if m.startswith(f"{tid}:")]
        assert mine == [f"{tid}:{seq}:" + "t" * (seq % 200) for seq in range(count)]


def test_wss_untrusted_certificate_is_refused(tls: Any) -> None:
    server_context, client_context = tls
    with ServerThread(ssl_context=server_context) as server:
        # The default context does not trust a self-signed certificate.
        with pytest.raises(ssl.SSLCertVerificationError):
            wsocket.connect(server.url, timeout=5000 * MS)
        # A trusting context still checks the name: the certificate is for
        # 127.0.0.1 and localhost, not 127.0.0.2.
        sock = socket.create_connection(("127.0.0.1", server.port))
        with sock, pytest.raises(ssl.SSLCertVerificationError):
            wsocket.connect(
                f"wss://127.0.0.2:{server.port}/",
                ssl=client_context,
                sock=sock,
                timeout=5000 * MS,
            )


# -- Other options ------------------------------------------------------------


def test_connect_over_given_socket() -> None:
    with run_server("websockets") as server:
        sock = socket.create_connection(
            ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        )
        with wsocket.connect(server.url, sock=sock) as ws:
            assert ws.sock is sock
            ws.send("given")
            assert ws.receive(timeout=5000 * MS) == "given"


def test_client_keepalive_against_websockets_server() -> None:
    with run_server("websockets") as server:
        with wsocket.connect(
            server.url, ping_interval=50 * MS, ping_timeout=2000 * MS
        ) as ws:
            last = ws._last_rx
            # Pongs from the server are read although the application is idle.
            wait_for(lambda: ws._last_rx > last + 200 * MS)
            assert not ws.closed
            ws.send("alive")
            assert ws.receive(timeout=5000 * MS) == "alive"


@pytest.mark.parametrize("patch", [True, False], ids=["patched", "unpatched"])
def test_against_gevent_server_subprocess(patch: bool) -> None:
    pytest.importorskip("gevent", reason="gevent is not installed")
    args = [] if patch else ["--no-patch"]
    with GeventServerProcess(*args) as server:
        clients = [wsocket.connect(server.url) for _ in range(3)]
        for n, ws in enumerate(clients):
            ws.send(f"client {n}")
        for n, ws in enumerate(clients):
            assert ws.receive(timeout=5000 * MS) == f"client {n}"
            ws.send("primitives?")
            assert ws.receive(timeout=5000 * MS) == "gevent"
            ws.send(os.urandom(2**20))
            assert len(ws.receive(timeout=5000 * MS)) == 2**20
            ws.close()
            assert ws.close_code == 1000
    assert server.returncode in (0, -15), server.stderr
