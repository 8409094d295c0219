"""Tests for wsocket.servers.waitress: waitress serves HTTP, refuses upgrades.

waitress runs in a thread of the test process.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from helpers import MS

from wsocket.middleware import WebSocketMiddleware
from wsocket.servers.waitress import ADAPTER

waitress = pytest.importorskip("waitress", reason="waitress is not installed")


@contextmanager
def waitress_serving(app: Any) -> Iterator[int]:
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        # Sockets are closed in the loop's own thread (closing them under
        # its select() fails it); with its map empty, the loop returns.
        def close_all() -> None:
            for dispatcher in list(server._map.values()):
                dispatcher.close()

        server.trigger.pull_trigger(close_all)
        thread.join(5000 * MS)
        server.task_dispatcher.shutdown()
    assert not thread.is_alive()


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, HTTP"]


UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def test_environs_of_old_and_new_waitress_are_recognised() -> None:
    assert ADAPTER.matches({"waitress.client_disconnected": lambda: False})
    assert ADAPTER.matches({"SERVER_SOFTWARE": "waitress"})
    assert not ADAPTER.matches({"SERVER_SOFTWARE": "gunicorn/22"})


def test_an_upgrade_gets_a_501_that_names_what_to_use_and_http_still_works() -> None:
    with waitress_serving(WebSocketMiddleware(hello)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5000 * MS)
        conn.request("GET", "/ws", headers=UPGRADE)
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 501
        assert body == ADAPTER.refusal + "\n"
        assert "waitress cannot serve WebSockets" in body
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5000 * MS)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"Hello, HTTP")
        conn.close()
