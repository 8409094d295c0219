"""The WSocketApp demo (examples/app_demo.py) end to end, under real servers.

The same app runs as a subprocess under wsocket's run() with threads, under
run() with gevent (started the way its docstring says, through
``python -m gevent.monkey``), and under ``gunicorn -k gevent``. Each gets the
same checks, from outside, with http.client, raw sockets, wsocket.connect and
the websockets client: pages, path parameters, JSON, a streamed body, static
files, 404/405/426, a WebSocket echo, a WebSocket upgrade refused before the
handshake, and a stream that breaks after its headers, which the client must
see cut short rather than complete.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Dict, Optional, Tuple

import pytest

import wsocket
from wsocket.exceptions import HandshakeError

from .config_gunicorn import gunicorn_argv
from .harness import PYTHON, ROOT, ServerConfig, ServerProcess, wait_for

pytestmark = pytest.mark.timeout(120)

EXAMPLES = os.path.join(ROOT, "examples")
DEMO = os.path.join(EXAMPLES, "app_demo.py")
TIMEOUT = 10.0

SERVERS = [
    ServerConfig(
        "run-threading",
        lambda port: [PYTHON, DEMO, "--port", str(port), "--server", "threading"],
    ),
    ServerConfig(
        "run-gevent",
        lambda port: [
            PYTHON,
            "-m",
            "gevent.monkey",
            DEMO,
            "--port",
            str(port),
            "--server",
            "gevent",
        ],
        requires=["gevent"],
    ),
    ServerConfig(
        "gunicorn-gevent",
        gunicorn_argv("-k", "gevent", app="app_demo:app"),
        cwd=EXAMPLES,
        requires=["gunicorn", "gevent"],
    ),
]


@pytest.fixture(scope="module", params=SERVERS, ids=lambda config: config.name)
def server(request):
    config: ServerConfig = request.param
    missing = config.missing()
    if missing:
        pytest.skip(f"{config.name} needs {', '.join(missing)}")
    with config.process() as proc:
        yield proc


def fetch(
    port: int,
    path: str,
    method: str = "GET",
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
) -> Tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def log_errors(server: ServerProcess) -> str:
    log = server.log()
    return log if ("Traceback" in log or "[ERROR]" in log) else ""


def test_pages_and_path_parameters(server):
    status, headers, body = fetch(server.port, "/")
    assert status == 200 and b"<h1>wsocket demo</h1>" in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))
    status, _, body = fetch(server.port, "/hello/ada%20lovelace")
    assert (status, body) == (200, b"<p>Hello, ada lovelace!</p>")
    status, headers, body = fetch(server.port, "/", "HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 100


def test_json(server):
    status, headers, body = fetch(server.port, "/api/items/7")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"id": 7, "name": "item 7"}
    status, headers, body = fetch(
        server.port,
        "/api/items",
        "POST",
        b'{"name": "new"}',
        {"Content-Type": "application/json"},
    )
    assert status == 201 and headers["Location"] == "/api/items/1"
    assert json.loads(body) == {"created": {"name": "new"}}
    status, _, body = fetch(server.port, "/api/items", "POST", b"{not json")
    assert status == 400 and b"invalid JSON" in body


def test_streamed_body(server):
    status, headers, body = fetch(server.port, "/stream")
    assert status == 200
    assert headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in headers
    assert body == b"".join(b"line %d\n" % n for n in range(5))


def test_static_files(server):
    status, headers, body = fetch(server.port, "/static/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    with open(os.path.join(EXAMPLES, "app_static", "style.css"), "rb") as f:
        assert body == f.read()
    status, _, _ = fetch(
        server.port, "/static/style.css", headers={"If-None-Match": headers["ETag"]}
    )
    assert status == 304
    status, headers, body = fetch(
        server.port, "/static/hello.txt", headers={"Range": "bytes=0-4"}
    )
    assert (status, body) == (206, b"Hello")
    assert fetch(server.port, "/static/../app_demo.py")[0] == 404
    assert fetch(server.port, "/static/%2e%2e/app_demo.py")[0] == 404


def test_framework_errors(server):
    status, _, body = fetch(server.port, "/no/such/page")
    assert status == 404 and b"No page or WebSocket at /no/such/page." in body
    status, headers, _ = fetch(server.port, "/api/items/7", "DELETE")
    assert status == 405 and headers["Allow"] == "GET, HEAD, OPTIONS"
    status, headers, _ = fetch(server.port, "/echo")
    assert status == 426 and headers["Upgrade"] == "websocket"


def test_websocket_echo_with_wsocket_client(server):
    with wsocket.connect(f"ws://127.0.0.1:{server.port}/echo", timeout=TIMEOUT) as ws:
        ws.send("héllo")
        assert ws.receive(timeout=TIMEOUT) == "héllo"
        ws.send(b"\x00\xff" * 5000)
        assert ws.receive(timeout=TIMEOUT) == b"\x00\xff" * 5000
    assert ws.close_code == 1000


def test_websocket_echo_with_websockets_client(server):
    from websockets.sync.client import connect

    with connect(
        f"ws://127.0.0.1:{server.port}/echo",
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        ws.send("from websockets")
        assert ws.recv(timeout=TIMEOUT) == "from websockets"
    assert ws.protocol.close_code == 1000


def test_websocket_to_an_unknown_path_is_refused_before_the_handshake(server):
    with pytest.raises(HandshakeError) as info:
        wsocket.connect(f"ws://127.0.0.1:{server.port}/nope", timeout=TIMEOUT)
    assert info.value.status == 404
    # The server is fine afterwards, and nothing went wrong on its side.
    assert fetch(server.port, "/hello/again")[0] == 200
    assert log_errors(server) == ""


def test_a_stream_that_breaks_is_cut_short(server):
    # Runs last for each server: it logs the error on purpose.
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    try:
        sock.sendall(b"GET /stream?fail=2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break  # the server dropped the connection
            data += chunk
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body.startswith(b"7\r\nline 0\n\r\n7\r\nline 1\n\r\n")
    # No terminating zero-size chunk: the client knows the body is incomplete.
    assert not body.endswith(b"0\r\n\r\n")
    assert wait_for(lambda: "the stream broke" in server.log(), TIMEOUT)
    assert "the response is cut short" in server.log()
