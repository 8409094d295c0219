"""examples/chat: the page's contract and the server's rooms, through
TestClient (the browser side is in test_browser.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from helpers import MS
from integration.harness import ROOT

from wsocket.realtime import INVALID_PARAMS
from wsocket.testing import TestClient

CHAT = os.path.join(ROOT, "examples", "chat", "app.py")
TIMEOUT = 5000 * MS


@pytest.fixture(scope="module")
def chat_module() -> Any:
    spec = importlib.util.spec_from_file_location("chat_example", CHAT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Page:
    """What a chat page does, in raw JSON-RPC."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = 0

    def call(self, method: str, params: Any) -> Any:
        self.ids += 1
        self.ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "method": method, "params": params, "id": self.ids}
            )
        )
        return self.receive()

    def say(self, name: str, text: str) -> None:
        message = {"name": name, "text": text}
        self.ws.send(
            json.dumps({"jsonrpc": "2.0", "method": "chat.say", "params": message})
        )

    def receive(self) -> Any:
        return json.loads(self.ws.receive(timeout=TIMEOUT))


def message(name: str, text: str) -> Any:
    return {
        "jsonrpc": "2.0",
        "method": "chat.message",
        "params": {"name": name, "text": text},
    }


def test_page_has_what_the_docs_promise(chat_module):
    client = TestClient(chat_module.create_app())
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    for element in (
        '<input id="name"',
        '<input id="room" value="lobby"',
        '<form id="send">',
        '<input id="message"',
        '<ul id="messages">',
        '<script src="wsocket.js">',
    ):
        assert element in page.text
    assert client.get("/wsocket.js").status_code == 200


def test_rooms_keep_messages_apart(chat_module):
    client = TestClient(chat_module.create_app())
    with (
        client.websocket_connect("/ws") as a,
        client.websocket_connect("/ws") as b,
        client.websocket_connect("/ws") as c,
    ):
        alice, bob, carol = Page(a), Page(b), Page(c)
        assert alice.call("chat.join", {"room": "lobby"})["result"] == "lobby"
        assert bob.call("chat.join", {"room": "lobby"})["result"] == "lobby"
        assert carol.call("chat.join", {"room": "lobby"})["result"] == "lobby"
        # Joining another room leaves the first.
        assert carol.call("chat.join", {"room": " attic "})["result"] == "attic"
        alice.say("Alice", "hello")
        assert bob.receive() == message("Alice", "hello")
        assert alice.receive() == message("Alice", "hello")
        carol.say("Carol", "up here")
        # Had the lobby's message reached Carol, it would come first.
        assert carol.receive() == message("Carol", "up here")
        bob.say("Bob", "still down here")
        assert alice.receive() == message("Bob", "still down here")


def test_bad_params_get_invalid_params(chat_module):
    client = TestClient(chat_module.create_app())
    with client.websocket_connect("/ws") as ws:
        page = Page(ws)
        for params in ({}, {"room": ""}, {"room": 3}, ["lobby"]):
            reply = page.call("chat.join", params)
            assert reply["error"]["code"] == INVALID_PARAMS, params
            assert reply["error"]["message"] == "room must be a non-empty string"
        page.call("chat.join", {"room": "lobby"})
        reply = page.call("chat.say", {"name": "Al", "text": " "})
        assert reply["error"]["message"] == "text must be a non-empty string"
        # The broadcast goes out from the handler, before its reply.
        assert page.call("chat.say", {"name": "Al", "text": "x" * 5000}) == message(
            "Al", "x" * 1000
        )
        assert page.receive() == {"jsonrpc": "2.0", "id": page.ids, "result": None}


def test_redis_flag_with_a_bad_url_fails_clearly(chat_module):
    result = subprocess.run(
        [sys.executable, CHAT, "--port", "0", "--redis", "http://not-redis"],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "redis" in result.stderr.lower(), result.stderr
