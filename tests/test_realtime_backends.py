"""wsocket.realtime.backends: every room and connection-id send goes through it.

A backend that links two endpoints (as a pub/sub bus links processes) shows
the interface is enough for a cross-process backend: a broadcast or an
``emit_to`` made on one endpoint reaches the connections of the other.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Collection, Optional

import pytest
from helpers import MS, wait_for

from wsocket import WSocketApp
from wsocket.realtime import Backend, Connection, Delivery, Events, MemoryBackend
from wsocket.testing import TestClient

TIMEOUT = 5000 * MS


class Bus:
    """A message bus shared by several backends (one per 'process')."""

    def __init__(self) -> None:
        self.members: list[Delivery] = []
        self.lock = threading.Lock()
        self.published: list[tuple[Any, ...]] = []

    def publish(self, message: tuple[Any, ...]) -> None:
        with self.lock:
            self.published.append(message)
            members = list(self.members)
        for delivery in members:
            if message[0] == "room":
                _, method, params, room, exclude = message
                delivery.deliver(method, params, room, exclude)
            else:
                _, conn_id, method, params = message
                delivery.deliver_to(conn_id, method, params)


class BusBackend(Backend):
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.log: list[tuple[str, ...]] = []

    def start(self, delivery: Delivery) -> None:
        self.log.append(("start",))
        with self.bus.lock:
            self.bus.members.append(delivery)

    def connected(self, conn_id: str) -> None:
        self.log.append(("connected", conn_id))

    def disconnected(self, conn_id: str) -> None:
        self.log.append(("disconnected", conn_id))

    def joined(self, conn_id: str, room: str) -> None:
        self.log.append(("joined", conn_id, room))

    def left(self, conn_id: str, room: str) -> None:
        self.log.append(("left", conn_id, room))

    def broadcast(
        self, method: str, params: Any, room: Optional[str], exclude: Collection[str]
    ) -> None:
        self.bus.publish(("room", method, params, room, tuple(exclude)))

    def emit_to(self, conn_id: str, method: str, params: Any) -> None:
        self.bus.publish(("conn", conn_id, method, params))


def endpoint(backend: Backend) -> tuple[WSocketApp, Events]:
    app = WSocketApp()
    events = app.events("/ws", backend=backend)

    @events.on("join")
    def join(conn: Connection, params: Any) -> Any:
        conn.join(params[0])
        return conn.id

    @events.on("leave")
    def leave(conn: Connection, params: Any) -> None:
        conn.leave(params[0])

    @events.on("say")
    def say(conn: Connection, params: Any) -> None:
        events.broadcast("said", params[1], room=params[0], exclude=conn)

    @events.on("tell")
    def tell(conn: Connection, params: Any) -> None:
        events.emit_to(params[0], "told", params[1])

    return app, events


def call(ws: Any, method: str, params: Any, call_id: int = 1) -> Any:
    ws.send(
        json.dumps(
            {"jsonrpc": "2.0", "method": method, "params": params, "id": call_id}
        )
    )
    reply = json.loads(ws.receive(timeout=TIMEOUT))
    assert reply["id"] == call_id, reply
    return reply.get("result")


def test_sends_cross_endpoints_through_the_backend() -> None:
    bus = Bus()
    backend_a, backend_b = BusBackend(bus), BusBackend(bus)
    app_a, events_a = endpoint(backend_a)
    app_b, events_b = endpoint(backend_b)
    with (
        TestClient(app_a).websocket_connect("/ws") as a,
        TestClient(app_b).websocket_connect("/ws") as b,
    ):
        a_id = call(a, "join", ["lobby"])
        b_id = call(b, "join", ["lobby"])
        call(a, "say", ["lobby", "from a"], 2)
        assert json.loads(b.receive(timeout=TIMEOUT) or "") == {
            "jsonrpc": "2.0",
            "method": "said",
            "params": "from a",
        }
        call(b, "tell", [a_id, "psst"], 3)
        assert json.loads(a.receive(timeout=TIMEOUT) or "") == {
            "jsonrpc": "2.0",
            "method": "told",
            "params": "psst",
        }
        call(b, "leave", ["lobby"], 4)
        assert ("room", "said", "from a", "lobby", (a_id,)) in bus.published
        assert ("conn", a_id, "told", "psst") in bus.published
    wait_for(lambda: ("disconnected", b_id) in backend_b.log, TIMEOUT)
    assert backend_b.log[:3] == [
        ("start",),
        ("connected", b_id),
        ("joined", b_id, "lobby"),
    ]
    assert ("left", b_id, "lobby") in backend_b.log
    assert backend_a.log.count(("start",)) == 1


class Recorder(Delivery):
    """A Delivery that records what a backend hands it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def deliver(
        self,
        method: str,
        params: Any,
        room: Optional[str],
        exclude: Collection[str],
    ) -> int:
        self.calls.append((method, params, room, tuple(exclude)))
        return 1

    def deliver_to(self, conn_id: str, method: str, params: Any) -> bool:
        self.calls.append((conn_id, method, params))
        return False


def test_memory_backend_delivers_locally_only_once_started() -> None:
    backend = MemoryBackend()
    recorder = Recorder()
    backend.broadcast("m", 1, None, ())  # not started: nowhere to deliver
    backend.start(recorder)
    backend.broadcast("m", 2, "r", ("x",))
    backend.emit_to("id", "m", 3)
    backend.stop()
    backend.broadcast("m", 4, None, ())
    assert recorder.calls == [("m", 2, "r", ("x",)), ("id", "m", 3)]


def test_base_classes_are_abstract() -> None:
    with pytest.raises(NotImplementedError):
        Backend().start(MemoryBackend())  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        Backend().broadcast("m", None, None, ())
    with pytest.raises(NotImplementedError):
        Backend().emit_to("id", "m", None)
    with pytest.raises(NotImplementedError):
        Delivery().deliver("m", None, None, ())
    with pytest.raises(NotImplementedError):
        Delivery().deliver_to("id", "m", None)


def test_events_count_local_deliveries() -> None:
    events = Events()
    assert events.deliver("m", None, None, ()) == 0
    assert events.deliver_to("nobody", "m", None) is False


def test_deliver_many_defaults_to_deliver_in_order() -> None:
    recorder = Recorder()
    total = recorder.deliver_many([("a", 1, None, ()), ("b", 2, "r", ("x",))])
    assert total == 2
    assert recorder.calls == [("a", 1, None, ()), ("b", 2, "r", ("x",))]
