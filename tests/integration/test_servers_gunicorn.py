"""Tests for wsocket.servers.gunicorn: the warning wsocket logs for each
worker kind, and what each kind does to a WebSocket
(docs/deployment/gunicorn.rst says the same).

One gunicorn per worker kind, started on first use and shared by the tests
of this module.
"""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import time

import pytest

import wsocket

from .config_gunicorn import gunicorn_argv
from .harness import ServerProcess, free_port, wait_for

pytestmark = pytest.mark.timeout(120)

#: Options per worker kind. The sync worker gets a short --timeout so that
#: the test of a WebSocket outliving it stays short.
SYNC_TIMEOUT = 2
OPTIONS = {
    "sync": ("-k", "sync", "--timeout", str(SYNC_TIMEOUT)),
    "gthread": ("-k", "gthread", "--threads", "2"),
    "gevent": ("-k", "gevent"),
    "gevent_pywsgi": ("-k", "gevent_pywsgi"),
}

WARNING = "wsocket: gunicorn worker"


@pytest.fixture(scope="module")
def gunicorn():
    """``gunicorn(kind)`` returns the running server of that worker kind."""
    pytest.importorskip("gunicorn")
    running = {}
    with contextlib.ExitStack() as stack:

        def get(kind):
            if kind.startswith("gevent"):
                pytest.importorskip("gevent")
            if kind not in running:
                port = free_port()
                running[kind] = stack.enter_context(
                    ServerProcess(gunicorn_argv(*OPTIONS[kind])(port), port)
                )
            return running[kind]

        yield get


def url(server, path="/echo"):
    return f"ws://127.0.0.1:{server.port}{path}"


def http_get(server, path="/hello", timeout=10.0):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def echo_once(server, text="ping"):
    with wsocket.connect(url(server)) as ws:
        ws.send(text)
        assert ws.receive(timeout=10) == text
    assert ws.close_code == 1000


@pytest.mark.parametrize(
    "kind, expected",
    [
        (
            "sync",
            [
                "'sync'",
                f"--timeout ({SYNC_TIMEOUT} s)",
                "-k gevent",
                "-k gthread --threads N",
            ],
        ),
        ("gthread", ["'gthread'", "--threads (2)", "-k gevent"]),
    ],
)
def test_warning_names_worker_and_remedy(gunicorn, kind, expected):
    server = gunicorn(kind)
    echo_once(server)
    assert wait_for(lambda: WARNING in server.log(), 10), server.log()
    line = next(line for line in server.log().splitlines() if WARNING in line)
    assert "[WARNING]" in line  # in gunicorn's error log, at warning level
    for text in expected:
        assert text in line, line
    # Once per worker process, not once per WebSocket.
    echo_once(server)
    assert http_get(server) == (200, b"Hello, World!")
    assert server.log().count(WARNING) == 1


@pytest.mark.parametrize("kind", ["sync", "gthread"])
def test_warning_at_startup_before_any_websocket(kind):
    """The warning is in the log as soon as the worker loaded the app."""
    pytest.importorskip("gunicorn")
    port = free_port()
    with ServerProcess(gunicorn_argv(*OPTIONS[kind])(port), port) as server:
        assert wait_for(lambda: WARNING in server.log(), 10), server.log()
        assert http_get(server) == (200, b"Hello, World!")
        echo_once(server)
        assert server.log().count(WARNING) == 1


@pytest.mark.parametrize("kind", ["gevent", "gevent_pywsgi"])
def test_no_warning_for_gevent_workers(gunicorn, kind):
    server = gunicorn(kind)
    echo_once(server)
    # The warning would be logged before the 101, so it would be there now.
    assert http_get(server) == (200, b"Hello, World!")
    assert "wsocket" not in server.log(), server.log()


def test_gthread_holds_one_thread_per_websocket(gunicorn):
    """With --threads 2 and two WebSockets open, HTTP waits for a thread."""
    server = gunicorn("gthread")
    first = wsocket.connect(url(server))
    second = wsocket.connect(url(server))
    try:
        for ws in (first, second):
            ws.send("held")
            assert ws.receive(timeout=10) == "held"
        with pytest.raises(socket.timeout):
            http_get(server, timeout=1.0)
        first.close()
        assert http_get(server) == (200, b"Hello, World!")
    finally:
        first.close()
        second.close()


def test_sync_worker_cuts_websocket_after_timeout(gunicorn):
    """The arbiter aborts a sync worker whose WebSocket outlives --timeout:
    the handler is interrupted, the client gets a Close frame with 1001
    (going away) and a new worker serves the next requests."""
    server = gunicorn("sync")
    ws = wsocket.connect(url(server))
    ws.send("before")
    assert ws.receive(timeout=10) == "before"
    start = time.monotonic()
    assert ws.receive(timeout=SYNC_TIMEOUT + 15) is None
    elapsed = time.monotonic() - start
    assert (ws.close_code, ws.close_reason) == (1001, "server going away")
    assert elapsed >= SYNC_TIMEOUT - 0.5, elapsed
    assert wait_for(lambda: "WORKER TIMEOUT" in server.log(), 10), server.log()
    assert http_get(server) == (200, b"Hello, World!")
    echo_once(server, "after")


@pytest.mark.parametrize(
    "worker, options",
    [
        ("GeventWorker", ()),
        ("ThreadWorker", ("--threads", "2")),
    ],
)
def test_wsocket_worker_closes_websockets_with_1001_on_stop(worker, options):
    pytest.importorskip("gunicorn")
    if worker == "GeventWorker":
        pytest.importorskip("gevent")
    port = free_port()
    argv = gunicorn_argv(
        "-k", f"wsocket.servers.gunicorn.{worker}", "--graceful-timeout", "30", *options
    )(port)
    with ServerProcess(argv, port) as server:
        echo_once(server)
        ws = wsocket.connect(url(server))
        ws.send("open")
        assert ws.receive(timeout=10) == "open"
        server.signal(signal.SIGTERM)
        assert ws.receive(timeout=10) is None
        assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")
        # The worker no longer waits out --graceful-timeout (30 s).
        assert server.wait(10) == 0, server.log()
        assert "Traceback" not in server.log()


def test_gevent_worker_closes_websockets_with_1001_at_once():
    """gunicorn's own workers would keep a stopping worker until its
    WebSockets end or --graceful-timeout passes; the middleware closes them
    with 1001 as soon as the stop begins."""
    pytest.importorskip("gunicorn")
    pytest.importorskip("gevent")
    port = free_port()
    argv = gunicorn_argv("-k", "gevent", "--graceful-timeout", "30")(port)
    with ServerProcess(argv, port) as server:
        ws = wsocket.connect(url(server))
        ws.send("open")
        assert ws.receive(timeout=10) == "open"
        server.signal(signal.SIGTERM)
        start = time.monotonic()
        assert ws.receive(timeout=15) is None
        assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")
        assert time.monotonic() - start < 2
        assert server.wait(10) == 0, server.log()
