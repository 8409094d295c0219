"""Tests for wsocket.server, run() and WSGIServer: many sockets at once, SIGTERM,
port 0, connection cap, timeouts, import_app()."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Optional

import pytest

from .harness import PYTHON, ROOT, ServerProcess, free_port, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE = os.path.join(HERE, "serve_wsocket.py")

pytestmark = pytest.mark.timeout(180)


def serve(mode: str, **env: str) -> ServerProcess:
    port = free_port()
    return ServerProcess([PYTHON, SERVE, str(port), mode], port, env=env)


async def _clients(port: int, count: int, messages: int) -> int:
    from websockets.asyncio.client import connect

    handshakes = asyncio.Semaphore(100)
    echoed = 0
    opened = []

    async def one(i: int) -> None:
        nonlocal echoed
        async with handshakes:
            ws = await connect(
                f"ws://127.0.0.1:{port}/echo", open_timeout=30, compression=None
            )
        opened.append(ws)
        for j in range(messages):
            text = f"{i}:{j}"
            await ws.send(text)
            assert await ws.recv() == text
            echoed += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    # Every connection is open at the same time here; now close them all.
    assert len(opened) == count
    await asyncio.gather(*(ws.close() for ws in opened))
    assert all(ws.close_code == 1000 for ws in opened)
    return echoed


@pytest.mark.parametrize("mode,count", [("gevent", 1000), ("threading", 200)])
def test_many_concurrent_websockets(mode, count):
    if mode == "gevent":
        pytest.importorskip("gevent")
    with serve(mode) as server:
        started = time.monotonic()
        echoed = asyncio.run(asyncio.wait_for(_clients(server.port, count, 3), 60))
        elapsed = time.monotonic() - started
        assert echoed == 3 * count
        assert elapsed < 60
        log = server.log()
        assert "Traceback" not in log and "ERROR" not in log, log


def _open_and_wait_for_close(port: int, count: int, proc: ServerProcess):
    import wsocket

    sockets = [wsocket.connect(f"ws://127.0.0.1:{port}/echo") for _ in range(count)]
    for ws in sockets:
        ws.send("ready")
        assert ws.receive(timeout=10) == "ready"
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    codes = [(ws.receive(timeout=15), ws.close_code)[1] for ws in sockets]
    return codes, started


@pytest.mark.parametrize("mode", ["gevent", "threading"])
def test_sigterm_closes_websockets_with_1001(mode):
    if mode == "gevent":
        pytest.importorskip("gevent")
    with serve(mode, GRACE="5") as server:
        codes, started = _open_and_wait_for_close(server.port, 20, server)
        assert codes == [1001] * 20
        status = server.wait(10)
        assert status is not None, "the server did not exit after SIGTERM"
        assert time.monotonic() - started < 10
        assert status == 0, server.log()


def test_port_zero_is_reported():
    code = (
        f"import sys; sys.path.insert(0, {ROOT!r})\n"
        "from tests.integration.matrix_app import app\n"
        "import wsocket\n"
        "wsocket.run(app, '127.0.0.1', 0, 'threading')\n"
    )
    proc = subprocess.Popen(
        [PYTHON, "-c", code],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        port = int(match.group(1))
        assert port != 0
        import wsocket

        with wsocket.connect(f"ws://127.0.0.1:{port}/echo") as ws:
            ws.send("zero")
            assert ws.receive(timeout=10) == "zero"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()


def test_connection_cap_answers_503():
    import threading

    from wsocket import WSGIServer

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = WSGIServer(app, port=0, max_connections=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    held = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            held.append(sock)
        assert wait_for(lambda: server.active_connections == 2, 10)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as third:
            third.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = third.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503 ")
    finally:
        for sock in held:
            sock.close()
        server.stop(grace=2)
        thread.join(10)
    assert not thread.is_alive()


def test_gevent_server_without_gevent_says_what_to_install():
    code = (
        "import sys\n"
        "sys.modules['gevent'] = None\n"
        "sys.modules['gevent.monkey'] = None\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "import wsocket\n"
        "try:\n"
        "    wsocket.make_server(lambda e, s: [], port=0, server='gevent')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    ).stdout
    assert "pip install 'wsocket[gevent]'" in out


# -- run() for programs written for the earlier wsocket -------------------------------


def _script(tmp_path, body: str, name: str = "app.py") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def _started(tmp_path, body: str, port: int, *args: str) -> ServerProcess:
    script = _script(tmp_path, body)
    return ServerProcess([PYTHON, script, *args], port, cwd=str(tmp_path))


SLEEPY = """\
import sys, time
import wsocket

def app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is not None:                      # no middleware applied by hand
        for message in ws:
            ws.send("echo " + message)
        return []
    time.sleep(1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept"]

wsocket.run(app, port=int(sys.argv[1]){extra})
"""


def _fetch(port: int, path: str = "/") -> bytes:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as r:
        return r.read()


def test_default_run_never_lets_a_blocking_handler_stall_others(tmp_path):
    import concurrent.futures

    pytest.importorskip("gevent")  # installed but not patched: still threads
    port = free_port()
    with _started(tmp_path, SLEEPY.format(extra=""), port, str(port)) as server:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            bodies = list(pool.map(lambda _: _fetch(port), range(4)))
        elapsed = time.monotonic() - started
        assert bodies == [b"slept"] * 4
        # One after the other would take 4 s.
        assert elapsed < 2.5, f"4 requests of 1 s took {elapsed:.1f}s"
        # One access line per request: client, request line, status, bytes, ms.
        access = r'wsocket\.access 127\.0\.0\.1 "GET /" 200 5 (\d+\.\d)ms'
        assert wait_for(lambda: len(re.findall(access, server.log())) == 4, 10)
        log = server.log()
        assert "(threads, since gevent is not monkey-patched" in log, log
        lines = re.findall(access, log)
        assert all(float(ms) >= 900 for ms in lines), lines


def test_run_applies_the_middleware_to_a_plain_wsgi_app(tmp_path):
    import wsocket

    port = free_port()
    body = SLEEPY.format(extra=", quiet=True")
    with _started(tmp_path, body, port, str(port)) as server:
        with wsocket.connect(f"ws://127.0.0.1:{port}/") as ws:
            ws.send("hi")
            assert ws.receive(timeout=10) == "echo hi"
        assert _fetch(port) == b"slept"
        # quiet: no start-up line, no access log.
        assert wait_for(lambda: server.proc.poll() is None, 1)
        assert server.log() == "", server.log()


def test_auto_runs_on_gevent_when_gevent_is_patched(tmp_path):
    pytest.importorskip("gevent")
    port = free_port()
    body = "from gevent import monkey; monkey.patch_all()\n" + SLEEPY.format(extra="")
    with _started(tmp_path, body, port, str(port)) as server:
        assert _fetch(port) == b"slept"
        assert "(gevent, monkey-patched)" in server.log()


def test_port_in_use_is_one_line_and_a_failure(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        script = _script(tmp_path, SLEEPY.format(extra=""))
        done = subprocess.run(
            [PYTHON, script, str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=str(tmp_path),
            env=dict(os.environ, PYTHONPATH=ROOT),
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"wsocket: port {port} on 127.0.0.1 is already in use: stop the program "
        "listening there, or pick another port (port=0 picks a free one)"
    ]


def test_make_server_raises_port_in_use():
    import wsocket
    from wsocket.server import PortInUse

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as info:
            wsocket.make_server(lambda e, s: [], "127.0.0.1", port)
    assert isinstance(info.value, OSError)
    assert info.value.port == port
    assert f"port {port} on 127.0.0.1 is already in use" in str(info.value)


def test_run_imports_the_app_from_a_string(tmp_path):
    import wsocket

    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "__init__.py").write_text("")
    (tmp_path / "mysite" / "web.py").write_text(
        "from wsocket import WSocketApp\n"
        "app = WSocketApp()\n"
        "@app.route('/')\n"
        "def home():\n"
        "    return 'from a string'\n"
        "@app.websocket('/ws')\n"
        "def ws(ws):\n"
        "    for message in ws:\n"
        "        ws.send(message)\n"
    )
    port = free_port()
    body = f"import wsocket\nwsocket.run('mysite.web:app', port={port})\n"
    with _started(tmp_path, body, port) as server:
        assert _fetch(port) == b"from a string"
        with wsocket.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            ws.send("echo")
            assert ws.receive(timeout=10) == "echo"
        assert "Traceback" not in server.log()


def test_import_app_forms_and_errors(tmp_path, monkeypatch):
    from wsocket.server import AppNotFound, import_app

    (tmp_path / "appmod.py").write_text(
        "def application(environ, start_response):\n    return []\n"
        "def create_app():\n    return application\n"
        "class holder:\n    app = staticmethod(application)\n"
        "not_callable = 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for spec in (
        "appmod",
        "appmod:application",
        "appmod:create_app()",
        "appmod:holder.app",
    ):
        assert callable(import_app(spec)), spec
    cases = [
        ("nosuchmodule:app", "cannot import 'nosuchmodule'"),
        ("appmod:missing", "has no attribute 'missing'"),
        ("appmod:not_callable", "is int object, not a WSGI application"),
        ("not a module:app", "is not a module path"),
        (":app", "is not a module path"),
    ]
    for spec, message in cases:
        with pytest.raises(AppNotFound) as info:
            import_app(spec)
        assert message in str(info.value), (spec, str(info.value))
        assert isinstance(info.value, ImportError)


def test_a_non_callable_app_is_refused_at_once():
    import wsocket

    with pytest.raises(TypeError, match="must be a WSGI callable"):
        wsocket.make_server(42, port=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a WSGI callable"):
        wsocket.run(None, port=0)  # type: ignore[arg-type]


def test_an_upgrade_refused_by_an_app_without_middleware_says_how_to_add_it(caplog):
    import logging
    import threading

    import wsocket
    from wsocket import WSGIServer

    def app(environ, start_response):
        start_response("404 Not Found", [("Content-Length", "0")])
        return []

    server = WSGIServer(app, port=0)  # used directly: no middleware added
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.WARNING, logger="wsocket.server"):
            for _ in range(2):
                with pytest.raises(wsocket.HandshakeError):
                    wsocket.connect(f"ws://127.0.0.1:{server.port}/chat")
    finally:
        server.stop(grace=2)
        thread.join(10)
    hints = [
        r.getMessage()
        for r in caplog.records
        if "WebSocketMiddleware" in r.getMessage()
    ]
    assert len(hints) == 1, hints  # once per process
    assert "/chat" in hints[0] and "404 Not Found" in hints[0]
    assert "app = wsocket.WebSocketMiddleware(app)" in hints[0]


STREAM = """\
import sys
from wsocket import WSocketApp, run

app = WSocketApp()

@app.route("/stream")
def stream():
    def chunks():
        for _ in range(10000):
            yield b"x" * 65536
        print("stream finished", flush=True)
    return chunks()

run(app, port=int(sys.argv[1]), server=sys.argv[2])
"""


@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_a_client_leaving_mid_stream_is_not_an_error(tmp_path, mode):
    import struct

    if mode == "gevent":
        pytest.importorskip("gevent")
    port = free_port()
    with _started(tmp_path, STREAM, port, str(port), mode) as server:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        # Reset rather than a polite FIN: the server's next write fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        assert wait_for(lambda: '"GET /stream" 200' in server.log(), 15), server.log()
        log = server.log()
        assert "Traceback" not in log and "ERROR" not in log, log
        assert "stream finished" not in log  # the generator was closed early


# -- Limits of wsocket's own server -------------------------------------------


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Length", "5")])
    return [b"hello"]


class _Running:
    """A WSGIServer serving ``_hello`` in a thread, stopped on exit."""

    def __init__(self, **options):
        import threading

        from wsocket import WSGIServer

        self.server = WSGIServer(_hello, port=0, **options)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.server

    def __exit__(self, *exc):
        self.server.stop(grace=2)
        self.thread.join(10)
        assert not self.thread.is_alive()


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no end of response after {timeout}s: {bytes(data)!r}"
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk


def test_default_limits():
    from wsocket import WSGIServer
    from wsocket.http11 import Limits

    server = WSGIServer(_hello, port=0)
    try:
        assert server.head_timeout == 10.0
        assert server.keepalive_timeout == 15.0
        assert server.timeout == 30.0
        # Room for the 1000-client benchmark above, and its HTTP traffic.
        assert server.max_connections == 2048
        assert server.limits == Limits()
    finally:
        server.socket.close()


def test_trickled_request_head_is_cut_off_with_408():
    import select

    head_timeout = 0.5
    with _Running(head_timeout=head_timeout) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            # One more byte every 50 ms: each recv() returns quickly, but the
            # head never ends. The server must stop waiting at head_timeout.
            deadline = started + head_timeout + 5
            while not select.select([sock], [], [], 0.05)[0]:
                assert time.monotonic() < deadline, "no answer to a trickled head"
                sock.sendall(b"X")
            elapsed = time.monotonic() - started
            answer = _read_all(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert answer.endswith(
        b"\r\n\r\nthe request head did not arrive within 0.5 s (head_timeout)\n"
    )
    assert head_timeout <= elapsed < head_timeout + 2


def test_head_in_pieces_within_the_head_timeout_is_served():
    import select

    with _Running(head_timeout=2.0) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            for piece in (
                b"GET / HT",
                b"TP/1.1\r\nHo",
                b"st: x\r\nConnection: close\r\n",
            ):
                sock.sendall(piece)
                # Not answered yet: the head is incomplete.
                assert not select.select([sock], [], [], 0.1)[0]
            sock.sendall(b"\r\n")
            answer = _read_all(sock, 5)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert answer.endswith(b"\r\n\r\nhello")


def test_quiet_connection_is_closed_at_keepalive_timeout_without_408():
    # The head timeout starts with the first byte of a request; a client that
    # sends nothing is closed silently after keepalive_timeout.
    with _Running(keepalive_timeout=0.3, head_timeout=10) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            started = time.monotonic()
            assert _read_all(sock, 5) == b""
            assert 0.3 <= time.monotonic() - started < 3


@pytest.mark.parametrize(
    "options",
    [
        {"head_timeout": 0},
        {"head_timeout": -1},
        {"max_connections": 0},
    ],
)
def test_invalid_limits_are_refused(options):
    from wsocket import WSGIServer

    with pytest.raises(ValueError):
        WSGIServer(_hello, port=0, **options)


def test_http11_limits_are_configurable():
    from wsocket.http11 import Limits

    with _Running(limits=Limits(max_request_line=100)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _read_all(sock, 5)
    # The phrase depends on the Python version ("Request-URI Too Long").
    assert answer.startswith(b"HTTP/1.1 414 "), answer
    assert answer.endswith(b"\r\n\r\nrequest line longer than 100 bytes\n")


def test_request_body_over_max_body_size_gets_413_before_it_is_sent():
    import threading

    from wsocket import WSGIServer, WSocketApp

    app = WSocketApp()

    @app.route("/upload", methods="POST")
    def upload(request):
        return f"{len(request.body)} bytes"

    server = WSGIServer(app, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            # The declared length is one byte over the 1 MiB default: the
            # answer comes before any of the body is sent.
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % (2**20 + 1)
            )
            answer = _read_all(sock, 5)
    finally:
        server.stop(grace=2)
        thread.join(10)
    assert answer.startswith(b"HTTP/1.1 413 "), answer


def _body_app(environ, start_response):
    import json

    body = environ["wsgi.input"]
    path = environ["PATH_INFO"]
    if path == "/lines":
        result = [line.decode() for line in body]
    elif path == "/partial":
        result = [body.read(3).decode()]
    else:
        result = [body.read().decode()]
    out = json.dumps(result).encode()
    start_response("200 OK", [("Content-Length", str(len(out)))])
    return [out]


def _responses(data: bytes) -> list:
    """Split pipelined responses that all carry a Content-Length."""
    import json

    bodies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
        bodies.append(json.loads(rest[:length]))
        data = rest[length:]
    return bodies


def test_wsgi_input_ends_with_the_body_chunked_or_not():
    import threading

    from wsocket import WSGIServer

    server = WSGIServer(_body_app, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            # Three pipelined requests on one connection: a chunked body read
            # line by line across chunk boundaries, a body the app reads only
            # partly (the server discards the rest), and a last request.
            sock.sendall(
                b"POST /lines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"1\r\na\r\n3;ext=1\r\nb\nc\r\n1\r\nd\r\n0\r\nX-Trailer: 1\r\n\r\n"
                b"POST /partial HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
                b"0123456789"
                b"POST /all HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                b"Connection: close\r\n\r\nok"
            )
            answer = _read_all(sock, 5)
    finally:
        server.stop(grace=2)
        thread.join(10)
    assert _responses(answer) == [["ab\n", "cd"], ["012"], ["ok"]]


def test_expect_100_continue_is_answered_when_the_body_is_read():
    import threading

    from wsocket import WSGIServer

    server = WSGIServer(_body_app, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /all HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
            )
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                chunk = sock.recv(1)
                assert chunk, interim
                interim += chunk
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"hello")
            answer = _read_all(sock, 5)
    finally:
        server.stop(grace=2)
        thread.join(10)
    assert _responses(answer) == [["hello"]]


@pytest.mark.parametrize(
    ("end", "status", "reason"),
    [
        ("wait", 408, b"the request body did not arrive within 0.3 s (timeout)\n"),
        ("half-close", 400, b"incomplete request body\n"),
    ],
)
def test_request_body_that_stops_short_is_a_client_error(end, status, reason, caplog):
    import threading

    from wsocket import WSGIServer

    server = WSGIServer(_body_app, port=0, timeout=0.3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(
                b"POST /all HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe"
            )
            if end == "half-close":
                sock.shutdown(socket.SHUT_WR)
            answer = _read_all(sock, 5)
            elapsed = time.monotonic() - started
    finally:
        server.stop(grace=2)
        thread.join(10)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer
    assert answer.endswith(b"\r\n\r\n" + reason)
    if end == "wait":
        # timeout bounds each read, here the one waiting for the last 3 bytes.
        assert 0.3 <= elapsed < 3
    # The client's fault: not logged as an error of the application.
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


# -- worker threads of the threading server -----------------------------------


def _live_workers() -> int:
    import threading

    return sum(1 for t in threading.enumerate() if t.name == "wsocket-worker")


def test_workers_serve_one_connection_after_another_on_the_same_thread():
    import threading

    from wsocket.server import _Workers

    workers = _Workers(linger=5)
    seen: list = []
    done = threading.Event()

    def task(n: int) -> None:
        seen.append((n, threading.get_ident()))
        done.set()

    for n in range(5):
        done.clear()
        workers.submit(task, n)
        assert done.wait(5)
        # The worker counts itself idle right after the task returns.
        assert wait_for(lambda: workers._idle == 1, 5)
    assert [n for n, _ in seen] == list(range(5))
    assert len({ident for _, ident in seen}) == 1, seen


def test_closing_the_workers_ends_the_idle_ones_at_once():
    import threading

    from wsocket.server import _Workers

    before = _live_workers()
    workers = _Workers(linger=60)
    done = threading.Event()
    workers.submit(done.set)
    assert done.wait(5)
    assert wait_for(lambda: workers._idle == 1, 5)
    workers.close()
    assert wait_for(lambda: _live_workers() == before, 5), _live_workers()
    assert workers._idle == 0


def _green_until(gevent: Any, done: Callable[[], bool]) -> None:
    for _ in range(2000):
        if done():
            return
        gevent.sleep(0.001)
    raise AssertionError("the greenlets did not get there in 2 s")


def test_under_gevent_connections_run_in_raw_greenlets_reused() -> None:
    # A gevent.Greenlet would cost an idle WebSocket 1.2 KiB more, and a
    # deeper C stack saved each time it waits; a new greenlet per
    # connection maps and unmaps a frame stack each time.
    gevent = pytest.importorskip("gevent")
    import contextvars

    from wsocket.server import _GreenWorkers

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var")
    workers = _GreenWorkers()
    ran: list[tuple[Any, Optional[str]]] = []

    def task(name: str) -> None:
        ran.append((gevent.getcurrent(), var.get(None)))
        var.set(name)

    workers.submit(task, "first")
    _green_until(gevent, lambda: len(ran) == 1 and len(workers._idle) == 1)
    workers.submit(task, "second")
    _green_until(gevent, lambda: len(ran) == 2 and len(workers._idle) == 1)
    (first, first_seen), (second, second_seen) = ran
    assert not isinstance(first, gevent.Greenlet)
    assert second is first  # the same greenlet served both
    assert first_seen is None and second_seen is None  # a fresh context each time
    workers.close()
    _green_until(gevent, lambda: first.dead)
    assert workers._idle == []


def test_under_gevent_idle_greenlets_are_bounded() -> None:
    gevent = pytest.importorskip("gevent")
    from gevent.event import Event

    from wsocket.server import _GreenWorkers

    workers = _GreenWorkers(keep=2)
    release = Event()
    started: list[Any] = []

    def task() -> None:
        started.append(gevent.getcurrent())
        release.wait(5)

    for _ in range(5):
        workers.submit(task)
    _green_until(gevent, lambda: len(started) == 5)
    assert len(set(started)) == 5  # none idle: a greenlet each
    release.set()
    _green_until(gevent, lambda: sum(g.dead for g in started) == 3)
    assert len(workers._idle) == 2
    workers.close()
    _green_until(gevent, lambda: all(g.dead for g in started))


def test_workers_never_queue_a_connection_behind_a_busy_one():
    import threading

    from wsocket.server import _Workers

    workers = _Workers(linger=5)
    release = threading.Event()
    started: list = []

    def task(n: int) -> None:
        started.append(threading.get_ident())
        release.wait(10)

    for n in range(8):
        workers.submit(task, n)
    try:
        # Eight tasks that block: eight threads, all running at once.
        assert wait_for(lambda: len(started) == 8, 5), started
        assert len(set(started)) == 8
    finally:
        release.set()


def test_idle_workers_end_after_linger_and_none_loses_a_task():
    import threading

    from wsocket.server import _Workers

    before = _live_workers()
    workers = _Workers(linger=0.002)
    ran: list = []
    lock = threading.Lock()

    def task(n: int) -> None:
        with lock:
            ran.append(n)

    # Workers time out all the time while tasks keep arriving: each task
    # runs once, whether an idle worker or a new thread takes it.
    for n in range(2000):
        workers.submit(task, n)
        if n % 50 == 0:
            time.sleep(0.003)
    assert wait_for(lambda: len(ran) == 2000, 10), len(ran)
    assert sorted(ran) == list(range(2000))
    assert wait_for(lambda: _live_workers() == before, 5), _live_workers()
    assert workers._idle == 0


def test_a_worker_whose_wait_ends_as_a_connection_arrives_serves_it():
    import queue
    import threading

    from wsocket.server import _Workers

    workers = _Workers(linger=5)
    ran: list = []
    real = workers._tasks

    def task(name: str) -> None:
        ran.append((name, threading.get_ident()))

    class RaceOnce:
        """The worker's first wait times out just as submit() counts on it."""

        first = True

        def put(self, item):
            real.put(item)

        def get(self, timeout):
            if RaceOnce.first:
                RaceOnce.first = False
                workers.submit(task, "raced")  # claims the waiting worker
                raise queue.Empty
            return real.get(timeout=timeout)

    workers._tasks = RaceOnce()
    workers.submit(task, "first")
    assert wait_for(lambda: len(ran) == 2, 5), ran
    assert [name for name, _ in ran] == ["first", "raced"]
    assert ran[0][1] == ran[1][1]  # the same worker served both
