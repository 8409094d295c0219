"""Tests for wsocket.realtime.script and the browser client it serves,
wsocket.js: how the app serves it, and its behaviour under Node's test
runner against a real server (tests/js/)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from typing import List, Optional

import pytest
from integration.harness import ROOT, ServerProcess, free_port

from wsocket import WSocketApp
from wsocket.realtime import CLIENT_JS_PATH, Events, client_js, serve_client_js
from wsocket.testing import TestClient

SOURCE = os.path.join(ROOT, "wsocket", "realtime", "wsocket.js")
NODE = shutil.which("node") or shutil.which("nodejs")
JS_TESTS = os.path.join(ROOT, "tests", "js", "wsocket_client.test.js")
CLIENT_APP = os.path.join(ROOT, "tests", "js", "client_app.py")


def read_source() -> bytes:
    with open(SOURCE, "rb") as f:
        return f.read()


def events_app() -> WSocketApp:
    app = WSocketApp()
    app.events("/ws")
    return app


# -- serving ---------------------------------------------------------------------


def test_events_app_serves_the_client():
    response = TestClient(events_app()).get("/wsocket.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.body == read_source() == client_js()
    assert response.headers["Content-Length"] == str(len(response.body))
    assert response.headers["Cache-Control"] == "no-cache"
    digest = hashlib.sha256(response.body).hexdigest()[:32]
    assert response.headers["ETag"] == f'"{digest}"'
    assert CLIENT_JS_PATH == "/wsocket.js"


def test_client_revalidation_and_head():
    client = TestClient(events_app())
    etag = client.get("/wsocket.js").headers["ETag"]
    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/wsocket.js", headers={"If-None-Match": condition})
        assert response.status_code == 304, condition
        assert response.body == b""
        assert response.headers["ETag"] == etag
    changed = client.get("/wsocket.js", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200 and changed.body == client_js()
    head = client.request("HEAD", "/wsocket.js")
    assert head.status_code == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(client_js()))
    post = client.post("/wsocket.js")
    assert post.status_code == 405
    assert "GET" in post.headers["Allow"]


def test_client_is_served_under_the_script_name():
    outer = WSocketApp()
    outer.mount("/chat", events_app())
    client = TestClient(outer)
    assert client.get("/chat/wsocket.js").body == client_js()
    assert client.get("/wsocket.js").status_code == 404


def test_no_client_without_events():
    app = WSocketApp()

    @app.route("/")
    def index():
        return "home"

    assert TestClient(app).get("/wsocket.js").status_code == 404


def test_own_route_registered_before_wins():
    app = WSocketApp()

    @app.route("/wsocket.js")
    def mine():
        return "my own"

    app.events("/ws")
    app.events("/other")
    assert TestClient(app).get("/wsocket.js").text == "my own"
    assert [r.pattern for r in app.routes].count("/wsocket.js") == 1


def test_own_route_registered_after_wins():
    app = events_app()
    app.events("/more")  # one client route for any number of endpoints
    assert [r.pattern for r in app.routes].count("/wsocket.js") == 1

    @app.route("/wsocket.js")
    def mine():
        return "my own"

    client = TestClient(app)
    assert client.get("/wsocket.js").text == "my own"
    assert [r.pattern for r in app.routes].count("/wsocket.js") == 1
    # A second route at that path is a conflict with the app's own, as ever.
    with pytest.raises(ValueError, match="registered twice"):
        app.route("/wsocket.js")(lambda: "again")


def test_serve_client_js_next_to_a_bare_events_app():
    events = Events()

    def site(environ, start_response):
        if environ["PATH_INFO"] == CLIENT_JS_PATH:
            return serve_client_js(environ, start_response)
        return events(environ, start_response)

    client = TestClient(site)
    response = client.get("/wsocket.js")
    assert response.status_code == 200 and response.body == client_js()
    assert client.get("/ws").status_code == 426
    with client.websocket_connect("/ws") as ws:
        ws.send('{"jsonrpc": "2.0", "method": "nope", "id": 1}')
        assert json.loads(ws.receive())["error"]["code"] == -32601


# -- behaviour, under Node -------------------------------------------------------


def node_command() -> Optional[List[str]]:
    """``node`` with what it needs for a global WebSocket, or None."""
    if NODE is None:
        return None
    probe = "process.exit(typeof WebSocket === 'function' ? 0 : 1)"
    for flags in ([], ["--experimental-websocket"]):
        result = subprocess.run(
            [NODE, *flags, "-e", probe], capture_output=True, timeout=30
        )
        if result.returncode == 0:
            return [NODE, *flags]
    return None


@pytest.mark.integration  # a server and Node.js in subprocesses
def test_client_under_node():
    command = node_command()
    if command is None:
        if NODE is None and os.environ.get("CI"):
            pytest.fail("node is not installed: .ci/run installs it with apt")
        pytest.skip("no Node.js with a global WebSocket (Node 20.10 or later)")
    port = free_port()
    with ServerProcess([sys.executable, CLIENT_APP, str(port)], port) as server:
        result = subprocess.run(
            [*command, "--test", "--test-timeout=20000", JS_TESTS],
            env=dict(os.environ, WSOCKET_URL=f"ws://127.0.0.1:{port}/ws"),
            capture_output=True,
            text=True,
            timeout=90,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output + "\nserver log:\n" + server.log()
    # Every test of the file ran and passed.
    assert "# fail 0" in output, output
    assert "# tests 11" in output and "# pass 11" in output, output
