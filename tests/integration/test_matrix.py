"""The same checks against every server wsocket supports, each a real subprocess.

Server entries come from the ``config_*.py`` modules beside this file.
"""

from __future__ import annotations

import glob
import http.client
import importlib
import os
import socket
import time

import pytest

import wsocket
from wsocket.exceptions import HandshakeError
from wsocket.frames import Frame, Opcode, serialize_close
from wsocket.handshake import ClientHandshake

from .harness import ServerConfig, wait_for

pytestmark = pytest.mark.timeout(180)

HERE = os.path.dirname(os.path.abspath(__file__))


def _configs():
    found = []
    for path in sorted(glob.glob(os.path.join(HERE, "config_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        # Relative to this package: "tests" is not importable when pytest runs
        # from an unpacked sdist (only tests/ is on sys.path there).
        module = importlib.import_module(f".{name}", __package__)
        found.extend(module.CONFIGS)
    return found


CONFIGS = _configs()
WS_CONFIGS = [c for c in CONFIGS if c.websocket]
NO_WS_CONFIGS = [c for c in CONFIGS if not c.websocket]


@pytest.fixture(scope="module", params=WS_CONFIGS, ids=lambda c: c.name)
def server(request):
    config: ServerConfig = request.param
    missing = config.missing()
    if missing:
        pytest.skip(f"{config.name} needs {', '.join(missing)} (pip install it)")
    with config.process() as proc:
        yield proc


def url(server, path):
    return f"ws://127.0.0.1:{server.port}{path}"


def http_get(server, path="/hello"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_http_before(server):
    assert http_get(server) == (200, b"Hello, World!")


def test_http_keepalive_one_connection(server):
    if not server.keepalive:
        pytest.skip("this server closes the connection after every response")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/hello")
        first = conn.getresponse()
        assert first.read() == b"Hello, World!"
        sock = conn.sock
        assert sock is not None, "the server closed the connection after one response"
        conn.request("POST", "/post", body=b"x" * 1000)
        second = conn.getresponse()
        assert second.read() == b"x" * 1000
        assert conn.sock is sock  # the same TCP connection served both
    finally:
        conn.close()


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo_text_binary_large(server, compression):
    with wsocket.connect(
        url(server, "/echo"), compression=compression, max_message_size=None
    ) as ws:
        assert (ws.protocol.deflate is not None) == (compression is not None)
        ws.send("héllo")
        assert ws.receive(timeout=10) == "héllo"
        ws.send(b"\x00\xff" * 10)
        assert ws.receive(timeout=10) == b"\x00\xff" * 10
        big = os.urandom(4 * 2**20)
        ws.send(big)
        assert ws.receive(timeout=30) == big
    assert ws.close_code == 1000


def test_message_too_big_gets_1009(server):
    """The refusal reaches the client even though it is still sending."""
    if server.name == "uwsgi-gevent-router":
        pytest.skip(
            "uWSGI's --http router resets a client that is still sending "
            "when the worker closes (1006); --http-socket passes"
        )
    ws = wsocket.connect(url(server, "/echo"), compression=None)
    try:
        ws.send(b"x" * (16 * 2**20 + 1))
    except wsocket.ConnectionClosed:
        pass  # the server may close before the whole message is written
    assert ws.receive(timeout=20) is None
    assert ws.close_code == 1009, (ws.close_code, ws.close_reason)


def test_independent_client(server):
    from websockets.sync.client import connect

    with connect(url(server, "/echo"), max_size=None) as ws:
        ws.send("from websockets")
        assert ws.recv(timeout=10) == "from websockets"
        ws.send(b"\x01" * 70000)
        assert ws.recv(timeout=10) == b"\x01" * 70000


def test_subprotocol_server_preference(server):
    with wsocket.connect(
        url(server, "/sub"), subprotocols=["chat.v1", "chat.v2"]
    ) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.receive(timeout=10) == "chat.v2"
    with wsocket.connect(url(server, "/sub"), subprotocols=["other"]) as ws:
        assert ws.subprotocol is None
        assert ws.receive(timeout=10) == ""


def test_server_closes_with_code(server):
    ws = wsocket.connect(url(server, "/close"))
    ws.send("go")
    assert ws.receive(timeout=10) is None
    assert (ws.close_code, ws.close_reason) == (4001, "bye")


def test_app_exception_gives_1011(server):
    ws = wsocket.connect(url(server, "/boom"))
    ws.send("go")
    assert ws.receive(timeout=10) is None
    assert ws.close_code == 1011
    assert wait_for(lambda: "handler failure on purpose" in server.log(), 10)


def test_bad_handshake_gets_status(server):
    with pytest.raises(HandshakeError) as info:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        try:
            sock.sendall(
                b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 6\r\n\r\n"
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                head += chunk
        finally:
            sock.close()
        status = int(head.split(b" ", 2)[1])
        raise HandshakeError(head.decode("latin-1"), status)
    assert info.value.status == 426
    assert "sec-websocket-version: 13, 8, 7" in info.value.reason.lower()


def test_no_errors_logged_and_no_sockets_left(server):
    baseline = server.sockets()
    before = server.log()
    for _ in range(5):
        with wsocket.connect(url(server, "/echo")) as ws:
            ws.send("x")
            assert ws.receive(timeout=10) == "x"
    ws = wsocket.connect(url(server, "/echo"))
    ws.abort()  # the client vanishes without a closing handshake
    assert http_get(server) == (200, b"Hello, World!")
    assert wait_for(lambda: server.sockets() <= baseline, 10), (
        f"{server.sockets()} sockets open, {baseline} before"
    )
    new = server.log()[len(before) :]
    assert "Traceback" not in new and "ERROR" not in new and "Error" not in new, new


def test_nothing_written_after_the_session(server):
    """After the Close echo the server sends nothing more (no status line, no
    chunk) and releases the connection; a frame sent right behind the
    handshake, before the 101 arrived, is not lost."""
    baseline = server.sockets()
    before = server.log()
    handshake = ClientHandshake(url(server, "/echo"), compression=None)
    early = Frame(Opcode.TEXT, b"early") if server.early_frames else None
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(
            handshake.request_bytes() + (early.serialize(mask=True) if early else b"")
        )
        result = None
        while result is None:
            data = sock.recv(4096)
            assert data, "connection closed during the handshake"
            result = handshake.receive_data(data)
        received = bytearray(result.extra)
        sock.sendall(Frame(Opcode.CLOSE, serialize_close(1000)).serialize(mask=True))
        while True:
            data = sock.recv(4096)
            if not data:
                break
            received += data
    finally:
        sock.close()
    assert bytes(received) == (
        (early.serialize(mask=False) if early else b"")
        + Frame(Opcode.CLOSE, serialize_close(1000)).serialize(mask=False)
    )
    assert wait_for(lambda: server.sockets() <= baseline, 10), (
        f"{server.sockets()} sockets open, {baseline} before"
    )
    new = server.log()[len(before) :]
    assert "Traceback" not in new and "ERROR" not in new, new


def test_http_served_while_a_close_waits_on_a_silent_client(server):
    """A server waiting for a client's Close reply blocks nothing else."""
    if not server.concurrent:
        pytest.skip("this server serves one connection at a time")
    handshake = ClientHandshake(url(server, "/close"), compression=None)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(handshake.request_bytes())
        result = None
        while result is None:
            data = sock.recv(4096)
            assert data, "connection closed during the handshake"
            result = handshake.receive_data(data)
        sock.sendall(Frame(Opcode.TEXT, b"go").serialize(mask=True))
        received = bytearray(result.extra)
        expected = Frame(Opcode.CLOSE, serialize_close(4001, "bye")).serialize(
            mask=False
        )
        while len(received) < len(expected):
            data = sock.recv(4096)
            assert data, "connection closed before the Close frame"
            received += data
        assert bytes(received) == expected
        # The server now waits for our Close reply, which never comes.
        started = time.monotonic()
        assert http_get(server) == (200, b"Hello, World!")
        assert time.monotonic() - started < 2
    finally:
        sock.close()


def test_http_after(server):
    assert http_get(server, "/after") == (200, b"/after")


@pytest.mark.parametrize("config", NO_WS_CONFIGS, ids=lambda c: c.name)
def test_server_without_socket_refuses_clearly(config):
    missing = config.missing()
    if missing:
        pytest.skip(f"{config.name} needs {', '.join(missing)} (pip install it)")
    with config.process() as proc:
        with pytest.raises(HandshakeError) as info:
            wsocket.connect(f"ws://127.0.0.1:{proc.port}/echo", timeout=10)
        assert info.value.status == 501
        conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=10)
        try:
            conn.request(
                "GET",
                "/echo",
                headers={
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version": "13",
                },
            )
            response = conn.getresponse()
            body = response.read().decode()
        finally:
            conn.close()
        assert response.status == 501
        # It names the server and a way out.
        assert config.name.split("-")[0] in body.lower(), body
        assert "gunicorn" in body or "run()" in body, body
        assert http_get(proc) == (200, b"Hello, World!")
