"""Tests for wsocket.servers.werkzeug: WebSockets under werkzeug's dev server.

The server runs in a thread of the test process (``werkzeug.serving``).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from helpers import MS, assert_echoes

from wsocket.middleware import WebSocketMiddleware
from wsocket.servers import find_adapter
from wsocket.servers.werkzeug import ADAPTER

serving = pytest.importorskip("werkzeug.serving", reason="werkzeug is not installed")


@contextmanager
def werkzeug_serving(app: Any) -> Iterator[int]:
    server = serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5000 * MS)
    assert not thread.is_alive()


def echo_or_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [find_adapter(environ).name.encode()]
    for message in ws:
        ws.send(message)
    return []


def test_the_environ_is_recognised_by_its_socket_key() -> None:
    assert ADAPTER.matches({"werkzeug.socket": object()})
    assert not ADAPTER.matches({"wsgi.input": object()})
    with werkzeug_serving(echo_or_hello) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5000 * MS)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"werkzeug")
        conn.close()


def test_websockets_work_and_the_server_stays_up() -> None:
    with werkzeug_serving(WebSocketMiddleware(echo_or_hello)) as port:
        assert_echoes(port, "/")
        # After a session the server serves the next one (and plain HTTP).
        assert_echoes(port, "/")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5000 * MS)
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"werkzeug"
        conn.close()
