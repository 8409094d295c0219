"""Tests for the wsocket.realtime package: its exports, its imports, its usage.

The modules have their own files (test_realtime_events.py and so on).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

import wsocket.realtime as realtime
from wsocket import WSocketApp
from wsocket.testing import TestClient

SUBMODULES = ("backends", "events", "jsonrpc", "redis", "script")


def test_every_export_comes_from_a_submodule_s_all() -> None:
    exported: dict[str, object] = {}
    for name in SUBMODULES:
        module = importlib.import_module(f"wsocket.realtime.{name}")
        for attribute in module.__all__:
            exported[attribute] = getattr(module, attribute)
    assert set(realtime.__all__) <= set(exported)
    assert len(realtime.__all__) == len(set(realtime.__all__))
    for name in realtime.__all__:
        assert getattr(realtime, name) is exported[name], name
    # The classes and functions the docs name are all there.
    assert {"Events", "Connection", "RPCError", "MemoryBackend", "RedisBackend"} <= (
        set(realtime.__all__)
    )


def test_the_package_and_the_app_import_neither_redis_nor_gevent() -> None:
    # RedisBackend and Emitter import redis when they first connect only.
    code = (
        "import sys; import wsocket.realtime as r, wsocket.app; "
        "r.RedisBackend('redis://127.0.0.1:1/0'); r.Emitter; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'gevent'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_usage_in_the_package_docstring_works() -> None:
    app = WSocketApp()
    events = app.events("/ws")

    @events.on("chat.join")
    def join(conn: Any, params: Any) -> None:
        conn.state["room"] = params["room"]
        conn.join(params["room"])

    @events.on("chat.say")
    def say(conn: Any, params: Any) -> None:
        events.broadcast("chat.said", params, room=conn.state.get("room"))

    assert "events.broadcast(" in (realtime.__doc__ or "")
    client = TestClient(app)
    with (
        client.websocket_connect("/ws") as alice,
        client.websocket_connect("/ws") as bob,
    ):
        for ws, call_id in ((alice, 1), (bob, 2)):
            ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "method": "chat.join",
                        "params": {"room": "r"},
                        "id": call_id,
                    }
                )
            )
            reply = json.loads(ws.receive(timeout=5.0))
            assert reply == {"jsonrpc": "2.0", "result": None, "id": call_id}
        alice.send(
            json.dumps({"jsonrpc": "2.0", "method": "chat.say", "params": ["hi"]})
        )
        said = {"jsonrpc": "2.0", "method": "chat.said", "params": ["hi"]}
        assert json.loads(bob.receive(timeout=5.0)) == said
        assert json.loads(alice.receive(timeout=5.0)) == said
