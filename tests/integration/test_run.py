"""wsocket's own run(): many sockets at once, SIGTERM, port 0, connection cap."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time

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
