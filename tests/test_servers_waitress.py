"""Tests for wsocket.servers.waitress: waitress serves HTTP, refuses upgrades.

waitress runs as a subprocess, serving a plain WSGI app behind the middleware.
"""

from __future__ import annotations

import http.client

import pytest
from helpers import MS
from integration.harness import PYTHON, ROOT, ServerProcess, free_port

from wsocket.servers.waitress import ADAPTER

waitress = pytest.importorskip("waitress", reason="waitress is not installed")

#: waitress serving a "hello" app (and its upgrades) through the middleware.
SERVE_HELLO = """
import sys
sys.path.insert(0, {root!r})
from waitress import serve
from wsocket.middleware import WebSocketMiddleware

def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, HTTP"]

serve(WebSocketMiddleware(hello), host="127.0.0.1", port={port}, threads=2)
"""


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
    port = free_port()
    code = SERVE_HELLO.format(root=ROOT, port=port)
    with ServerProcess([PYTHON, "-c", code], port):
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
