"""wsocket.realtime.events through TestClient: the JSON-RPC endpoint end to end.

Every test speaks raw JSON-RPC 2.0 text to an ``app.events()`` endpoint (or
an ``Events`` used as a WSGI app) and checks what the documentation
promises: error codes, batches, calls both ways, order, concurrency, rooms,
pushes, lifecycle hooks, authorization and the send queue bounds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from helpers import MS, RPCPeer, wait_for

from wsocket import HandshakeError, HTTPError, WSocketApp
from wsocket.exceptions import ConnectionClosed
from wsocket.realtime import (
    INVALID_PARAMS,
    Connection,
    Events,
    RPCError,
)
from wsocket.testing import TestClient, TestWebSocket

TIMEOUT = 5000 * MS


class Peer(RPCPeer):
    """A JSON-RPC client over a TestWebSocket: each reply is the next message."""

    strict = True

    def __init__(self, ws: TestWebSocket) -> None:
        super().__init__()
        self.ws = ws

    def send_text(self, text: str) -> None:
        self.ws.send(text)

    def recv_text(self, timeout: float) -> str:
        message = self.ws.receive(timeout=timeout)
        assert message is not None, f"closed: {self.ws.close_code}"
        return message

    def recv(self, timeout: float = TIMEOUT) -> Any:
        return super().recv(timeout)


def make_app(**options: Any) -> tuple[WSocketApp, Events]:
    app = WSocketApp()
    events = app.events("/ws", **options)

    @events.on("echo")
    def echo(conn: Connection, params: Any) -> Any:
        return params

    @events.on("add")
    def add(conn: Connection, params: Any) -> Any:
        return params[0] + params[1]

    return app, events


@pytest.fixture
def setup() -> tuple[WSocketApp, Events, TestClient]:
    app, events = make_app()
    return app, events, TestClient(app)


# -- replies and error codes ---------------------------------------------------


def test_call_result_and_params_as_sent(setup: Any) -> None:
    app, events, client = setup
    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        assert peer.call("add", [2, 3]) == {"jsonrpc": "2.0", "result": 5, "id": 1}
        assert peer.call("echo", {"a": [1]})["result"] == {"a": [1]}
        # Absent params arrive as None.
        assert peer.call("echo")["result"] is None
        peer.send({"jsonrpc": "2.0", "method": "echo", "params": [], "id": "s"})
        assert peer.recv() == {"jsonrpc": "2.0", "result": [], "id": "s"}


@pytest.mark.parametrize(
    "message, code",
    [
        ("{not json", -32700),
        ('{"jsonrpc": "2.0", "method": "echo", "id": 1', -32700),
        ("[]", -32600),
        ('{"jsonrpc": "2.0", "id": 1}', -32600),
        ('{"method": "echo", "id": 1}', -32600),
        ('{"jsonrpc": "2.0", "method": 5, "id": 1}', -32600),
        ('{"jsonrpc": "2.0", "method": "echo", "params": 5, "id": 1}', -32600),
        ('"just a string"', -32600),
        ("[" * 100000, -32600),
        ('{"a":' * 5000 + "1" + "}" * 5000, -32600),
    ],
)
def test_malformed_input_gets_a_single_error(
    setup: Any, message: str, code: int
) -> None:
    app, events, client = setup
    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.send(message)
        reply = peer.recv()
        assert reply["jsonrpc"] == "2.0"
        assert reply["error"]["code"] == code
        assert reply["id"] in (None, 1)
        # The connection survives it.
        assert peer.call("add", [1, 1])["result"] == 2


def test_unknown_method_is_32601(setup: Any) -> None:
    app, events, client = setup
    with client.websocket_connect("/ws") as ws:
        reply = Peer(ws).call("nope", [1])
        assert reply["error"]["code"] == -32601
        assert reply["id"] == 1


def test_handler_rpc_errors_are_sent(setup: Any) -> None:
    app, events, client = setup

    @events.on("strict")
    def strict(conn: Connection, params: Any) -> Any:
        raise RPCError(INVALID_PARAMS, "x must be an int", {"field": "x"})

    @events.on("app.error")
    def app_error(conn: Connection, params: Any) -> Any:
        raise RPCError(4001, "no such room")

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        assert peer.call("strict", {"x": "a"})["error"] == {
            "code": -32602,
            "message": "x must be an int",
            "data": {"field": "x"},
        }
        assert peer.call("app.error")["error"] == {
            "code": 4001,
            "message": "no such room",
        }


def test_handler_exception_is_32603_logged_not_sent(
    setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app, events, client = setup

    @events.on("boom")
    def boom(conn: Connection, params: Any) -> Any:
        raise ValueError("secret detail")

    with caplog.at_level(logging.ERROR, "wsocket.realtime"):
        with client.websocket_connect("/ws") as ws:
            reply = Peer(ws).call("boom")
    assert reply["error"] == {"code": -32603, "message": "Internal error"}
    assert "secret detail" not in json.dumps(reply)
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "secret detail" in str(logged[0].exc_info[1])


def test_debug_sends_the_traceback() -> None:
    app, events = make_app(debug=True)

    @events.on("boom")
    def boom(conn: Connection, params: Any) -> Any:
        raise ValueError("secret detail")

    with TestClient(app).websocket_connect("/ws") as ws:
        reply = Peer(ws).call("boom")
    assert reply["error"]["code"] == -32603
    assert "ValueError: secret detail" in reply["error"]["data"]
    assert "Traceback" in reply["error"]["data"]


def test_unserialisable_result_is_32603(setup: Any) -> None:
    app, events, client = setup

    @events.on("obj")
    def obj(conn: Connection, params: Any) -> Any:
        return object()

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        assert peer.call("obj")["error"]["code"] == -32603
        assert peer.call("add", [1, 2])["result"] == 3


# -- batches -------------------------------------------------------------------


def test_batch_is_answered_in_order_with_one_array(setup: Any) -> None:
    app, events, client = setup
    seen = []

    @events.on("note")
    def note(conn: Connection, params: Any) -> None:
        seen.append(params[0])

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.send(
            [
                {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": "a"},
                {"jsonrpc": "2.0", "method": "note", "params": ["x"]},
                {"jsonrpc": "2.0", "method": "nope", "id": "b"},
                1,
                {"jsonrpc": "2.0", "method": "echo", "params": ["z"], "id": "c"},
            ]
        )
        reply = peer.recv()
        assert isinstance(reply, list)
        assert [item.get("id") for item in reply] == ["a", "b", None, "c"]
        assert reply[0]["result"] == 3
        assert reply[1]["error"]["code"] == -32601
        assert reply[2]["error"]["code"] == -32600
        assert reply[3]["result"] == ["z"]
        assert seen == ["x"]


def test_batch_of_events_only_gets_no_reply(setup: Any) -> None:
    app, events, client = setup
    seen = []

    @events.on("note")
    def note(conn: Connection, params: Any) -> None:
        seen.append(params[0])

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.send(
            [{"jsonrpc": "2.0", "method": "note", "params": [i]} for i in range(3)]
        )
        # The next message is the reply to the next call: nothing came before.
        assert peer.call("add", [1, 1]) == {"jsonrpc": "2.0", "result": 2, "id": 1}
        assert seen == [0, 1, 2]


def test_batch_size_limit() -> None:
    app, events = make_app(max_batch=3)
    with TestClient(app).websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.send([{"jsonrpc": "2.0", "method": "echo", "id": i} for i in range(4)])
        reply = peer.recv()
        assert reply["error"]["code"] == -32600 and reply["id"] is None
        peer.send([{"jsonrpc": "2.0", "method": "echo", "id": i} for i in range(3)])
        assert [item["id"] for item in peer.recv()] == [0, 1, 2]


# -- calls from the server -----------------------------------------------------


def test_server_calls_client_from_an_ordinary_handler(setup: Any) -> None:
    app, events, client = setup
    outcome: dict[str, Any] = {}

    @events.on("ask")
    def ask(conn: Connection, params: Any) -> Any:
        return conn.call("client.double", [params[0]])

    @events.on("ask.error")
    def ask_error(conn: Connection, params: Any) -> Any:
        try:
            conn.call("client.fail")
        except RPCError as error:
            outcome["error"] = (error.code, error.message, error.data)
        return "handled"

    @events.on("ask.timeout")
    def ask_timeout(conn: Connection, params: Any) -> Any:
        started = time.monotonic()
        try:
            conn.call("client.silent", timeout=200 * MS)
        except TimeoutError:
            outcome["timeout"] = time.monotonic() - started
        return "timed out"

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.send({"jsonrpc": "2.0", "method": "ask", "params": [21], "id": 1})
        request = peer.recv()
        assert request["method"] == "client.double"
        assert request["params"] == [21]
        peer.send({"jsonrpc": "2.0", "result": 42, "id": request["id"]})
        assert peer.recv() == {"jsonrpc": "2.0", "result": 42, "id": 1}

        peer.send({"jsonrpc": "2.0", "method": "ask.error", "id": 2})
        request = peer.recv()
        assert "params" not in request
        peer.send(
            {
                "jsonrpc": "2.0",
                "error": {"code": 7, "message": "nope", "data": [1]},
                "id": request["id"],
            }
        )
        assert peer.recv()["result"] == "handled"
        assert outcome["error"] == (7, "nope", [1])

        peer.send({"jsonrpc": "2.0", "method": "ask.timeout", "id": 3})
        assert peer.recv()["method"] == "client.silent"
        assert peer.recv()["result"] == "timed out"
        assert 150 * MS <= outcome["timeout"] < 2000 * MS


def test_server_call_fails_with_connection_closed(setup: Any) -> None:
    app, events, client = setup
    outcome: dict[str, Any] = {}
    asked = threading.Event()

    @events.on("ask")
    def ask(conn: Connection, params: Any) -> Any:
        asked.set()
        try:
            conn.call("client.never", timeout=10)
        except ConnectionClosed as exc:
            outcome["closed"] = exc
        except BaseException as exc:
            outcome["other"] = exc

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.emit("ask")
        assert peer.recv()["method"] == "client.never"
    wait_for(lambda: outcome, TIMEOUT)
    assert isinstance(outcome.get("closed"), ConnectionClosed)


def test_call_from_outside_a_handler(setup: Any) -> None:
    app, events, client = setup
    with client.websocket_connect("/ws") as ws:
        conn = wait_for(lambda: list(events.connections.values()), TIMEOUT)[0]
        result = []
        thread = threading.Thread(
            target=lambda: result.append(conn.call("client.ping", {"n": 1}))
        )
        thread.start()
        peer = Peer(ws)
        request = peer.recv()
        peer.send({"jsonrpc": "2.0", "result": "pong", "id": request["id"]})
        thread.join(TIMEOUT)
        assert result == ["pong"]


# -- order and concurrency -----------------------------------------------------


def test_messages_are_handled_in_arrival_order(setup: Any) -> None:
    app, events, client = setup

    @events.on("append")
    def append(conn: Connection, params: Any) -> None:
        conn.state.setdefault("log", []).append(params[0])

    @events.on("log")
    def log(conn: Connection, params: Any) -> Any:
        return conn.state.get("log", [])

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        for i in range(300):
            peer.emit("append", [i])
        assert peer.call("log")["result"] == list(range(300))


def test_concurrent_handler_does_not_hold_up_the_others(setup: Any) -> None:
    app, events, client = setup
    release = threading.Event()

    @events.on("slow", concurrent=True)
    def slow(conn: Connection, params: Any) -> Any:
        assert release.wait(TIMEOUT)
        return "slow done"

    @events.on("blocking")
    def blocking(conn: Connection, params: Any) -> Any:
        assert release.wait(TIMEOUT)
        return "blocking done"

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.send({"jsonrpc": "2.0", "method": "slow", "id": "slow"})
        # Answered while the slow call is still running.
        assert peer.call("add", [1, 2])["result"] == 3
        release.set()
        assert peer.recv() == {"jsonrpc": "2.0", "result": "slow done", "id": "slow"}
        # An ordinary slow handler does hold up what follows it.
        release.clear()
        peer.send({"jsonrpc": "2.0", "method": "blocking", "id": "b"})
        peer.send({"jsonrpc": "2.0", "method": "add", "params": [2, 2], "id": "a"})
        with pytest.raises(TimeoutError):
            ws.receive(timeout=200 * MS)
        release.set()
        assert peer.recv()["id"] == "b"
        assert peer.recv()["id"] == "a"


# -- rooms, broadcast, emit_to -------------------------------------------------


def rooms_app() -> tuple[WSocketApp, Events]:
    app, events = make_app()

    @events.on("join")
    def join(conn: Connection, params: Any) -> Any:
        conn.join(params["room"])
        return sorted(conn.rooms)

    @events.on("leave")
    def leave(conn: Connection, params: Any) -> Any:
        conn.leave(params["room"])
        return sorted(conn.rooms)

    @events.on("say")
    def say(conn: Connection, params: Any) -> None:
        events.broadcast("said", params, room=params["room"], exclude=conn)

    @events.on("whoami")
    def whoami(conn: Connection, params: Any) -> Any:
        return conn.id

    return app, events


def test_rooms_with_exclude_and_emit_to() -> None:
    app, events = rooms_app()
    client = TestClient(app)
    with (
        client.websocket_connect("/ws") as a,
        client.websocket_connect("/ws") as b,
        client.websocket_connect("/ws") as c,
    ):
        pa, pb, pc = Peer(a), Peer(b), Peer(c)
        assert pa.call("join", {"room": "lobby"})["result"] == ["lobby"]
        assert pb.call("join", {"room": "lobby"})["result"] == ["lobby"]
        assert pc.call("join", {"room": "other"})["result"] == ["other"]
        pa.emit("say", {"room": "lobby", "text": "hi"})
        assert pb.recv() == {
            "jsonrpc": "2.0",
            "method": "said",
            "params": {"room": "lobby", "text": "hi"},
        }
        # Neither the sender (excluded) nor the other room got it: their next
        # message is the reply to their next call.
        assert pa.call("add", [1, 1])["result"] == 2
        assert pc.call("add", [1, 1])["result"] == 2

        c_id = pc.call("whoami")["result"]
        assert c_id in events.connections
        events.emit_to(c_id, "private", {"n": 1})
        assert pc.recv() == {"jsonrpc": "2.0", "method": "private", "params": {"n": 1}}
        events.emit_to("no-such-id", "private", {"n": 2})  # ignored

        events.broadcast("all", [1])
        for peer in (pa, pb, pc):
            assert peer.recv() == {"jsonrpc": "2.0", "method": "all", "params": [1]}
        events.broadcast("some", None, exclude=[c_id, pa.call("whoami")["result"]])
        assert pb.recv() == {"jsonrpc": "2.0", "method": "some"}

        assert pb.call("leave", {"room": "lobby"})["result"] == []
        pa.emit("say", {"room": "lobby", "text": "alone"})
        assert pb.call("add", [2, 2])["result"] == 4


def test_broadcast_reaches_plain_and_compressed_clients_alike() -> None:
    # A broadcast frames its message once for the connections that can
    # share the frame; a connection with permessage-deflate frames (and
    # compresses) its own copy. Both get exactly the message.
    app, events = rooms_app()
    app.websocket_options["compression"] = "deflate"
    client = TestClient(app)
    with (
        client.websocket_connect("/ws") as a,
        client.websocket_connect("/ws", compression="deflate") as b,
        client.websocket_connect("/ws") as c,
    ):
        assert a.protocol.deflate is None and c.protocol.deflate is None
        assert b.protocol.deflate is not None  # negotiated
        peers = [Peer(a), Peer(b), Peer(c)]
        for peer in peers:
            assert peer.call("whoami")["result"] in events.connections
        for params in ({"n": 1}, {"text": "héllo ☃ " * 30}, {"big": "x" * 70000}):
            events.broadcast("news", params)
            expected = {"jsonrpc": "2.0", "method": "news", "params": params}
            for peer in peers:
                assert peer.recv() == expected
        assert events.stats["sent"] >= 3 * 4


def test_deliver_many_writes_each_connection_its_events_at_once() -> None:
    # A backend that fell behind hands over a batch of broadcasts: every
    # connection gets the ones meant for it, in order, with one write.
    app, events = rooms_app()
    client = TestClient(app)
    with (
        client.websocket_connect("/ws") as a,
        client.websocket_connect("/ws") as b,
        client.websocket_connect("/ws") as c,
    ):
        pa, pb, pc = Peer(a), Peer(b), Peer(c)
        a_id = pa.call("whoami")["result"]
        b_id = pb.call("whoami")["result"]
        pa.call("join", {"room": "x"})
        pb.call("join", {"room": "x"})
        pc.call("join", {"room": "y"})
        ws_a = events.connections[a_id].websocket
        writes: list[bytes] = []
        send_now = ws_a._send_now
        assert send_now is not None

        def counting(data: bytes) -> int:
            writes.append(data)
            return send_now(data)

        ws_a._send_now = counting
        sent = events.deliver_many(
            [
                ("n", 1, "x", ()),
                ("n", 2, None, ()),
                ("n", 3, "y", ()),
                ("n", 4, "x", (b_id,)),
            ]
        )
        assert sent == 7
        for peer, numbers in ((pa, [1, 2, 4]), (pb, [1, 2]), (pc, [2, 3])):
            for n in numbers:
                assert peer.recv() == {"jsonrpc": "2.0", "method": "n", "params": n}
        assert len(writes) == 1
        # Nothing more was sent: the next message is the reply.
        assert pb.call("add", [1, 2])["result"] == 3
        assert pc.call("add", [2, 2])["result"] == 4


def test_ids_are_random_and_url_safe() -> None:
    app, events = rooms_app()
    client = TestClient(app)
    ids = set()
    for _ in range(3):
        with client.websocket_connect("/ws") as ws:
            ids.add(Peer(ws).call("whoami")["result"])
    assert len(ids) == 3
    for conn_id in ids:
        assert len(conn_id) >= 22
        assert set(conn_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


# -- lifecycle -----------------------------------------------------------------


def test_connect_and_disconnect_hooks_clean_and_abrupt(setup: Any) -> None:
    app, events, client = setup
    log: list[tuple[str, str]] = []

    @events.on_connect
    def connected(conn: Connection) -> None:
        conn.join("lobby")
        log.append(("connect", conn.id))
        conn.emit("welcome", {"id": conn.id})

    @events.on_disconnect
    def disconnected(conn: Connection) -> None:
        assert conn.closed and conn.rooms == {"lobby"}
        assert conn.id not in events.connections
        log.append(("disconnect", conn.id))

    with client.websocket_connect("/ws") as ws:
        first = Peer(ws).recv()["params"]["id"]
    wait_for(lambda: ("disconnect", first) in log, TIMEOUT)

    ws = client.websocket_connect("/ws")
    second = Peer(ws).recv()["params"]["id"]
    ws.abort()  # no closing handshake
    wait_for(lambda: ("disconnect", second) in log, TIMEOUT)
    ws.close()
    assert log == [
        ("connect", first),
        ("disconnect", first),
        ("connect", second),
        ("disconnect", second),
    ]
    assert events.connections == {}


def test_on_connect_may_close(setup: Any) -> None:
    app, events, client = setup

    @events.on_connect
    def refuse(conn: Connection) -> None:
        conn.emit("bye")
        conn.close(4001, "not today")

    with client.websocket_connect("/ws") as ws:
        assert Peer(ws).recv() == {"jsonrpc": "2.0", "method": "bye"}
        assert ws.receive(timeout=TIMEOUT) is None
        assert (ws.close_code, ws.close_reason) == (4001, "not today")


def test_authorize_refuses_before_the_handshake(setup: Any) -> None:
    app, events, client = setup

    @events.authorize
    def check(request: Any) -> Any:
        token = request.query.get("token")
        if token is None:
            raise HTTPError(401, "log in first", {"WWW-Authenticate": "Bearer"})
        if token != "good":
            return False
        request.environ["user"] = "ada"
        return None

    @events.on("me")
    def me(conn: Connection, params: Any) -> Any:
        return conn.request.environ["user"]

    with pytest.raises(HandshakeError) as info:
        client.websocket_connect("/ws")
    assert info.value.status == 401
    with pytest.raises(HandshakeError) as info:
        client.websocket_connect("/ws?token=bad")
    assert info.value.status == 403
    with client.websocket_connect("/ws?token=good") as ws:
        assert Peer(ws).call("me")["result"] == "ada"
    assert client.get("/ws").status_code == 426


def test_before_refuses_calls_and_events(setup: Any) -> None:
    app, events, client = setup
    seen = []

    @events.before
    def only_reads(conn: Connection, method: str, params: Any) -> None:
        if method.startswith("admin."):
            raise RPCError(4003, "forbidden", {"method": method})

    @events.on("admin.wipe")
    def wipe(conn: Connection, params: Any) -> Any:
        seen.append("wipe")
        return "wiped"

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        assert peer.call("admin.wipe")["error"] == {
            "code": 4003,
            "message": "forbidden",
            "data": {"method": "admin.wipe"},
        }
        peer.emit("admin.wipe")
        assert peer.call("add", [1, 2])["result"] == 3
    assert seen == []


def test_connection_close_from_a_handler(setup: Any) -> None:
    app, events, client = setup

    @events.on("quit")
    def quit(conn: Connection, params: Any) -> None:
        conn.emit("last", [1])
        conn.close(4000, "bye")
        with pytest.raises(ConnectionClosed):
            conn.emit("too late")

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.emit("quit")
        assert peer.recv() == {"jsonrpc": "2.0", "method": "last", "params": [1]}
        assert ws.receive(timeout=TIMEOUT) is None
        assert ws.close_code == 4000


def test_close_rejects_bad_codes(setup: Any) -> None:
    app, events, client = setup
    errors = []

    @events.on("bad")
    def bad(conn: Connection, params: Any) -> Any:
        for code in (1005, 1006, 999, 5000):
            try:
                conn.close(code)
            except ValueError:
                errors.append(code)
        return len(errors)

    with client.websocket_connect("/ws") as ws:
        assert Peer(ws).call("bad")["result"] == 4


# -- tasks -----------------------------------------------------------------


def test_background_task_starts_with_serving_once() -> None:
    app, events = make_app()
    started = []
    stop = threading.Event()

    def push(interval: float) -> None:
        started.append(threading.get_ident())
        while not stop.wait(interval):
            events.broadcast("tick", {"t": time.monotonic()})

    events.start_background_task(push, 20 * MS)  # at import time, say
    assert started == []
    client = TestClient(app)
    try:
        with client.websocket_connect("/ws") as a:
            assert Peer(a).recv()["method"] == "tick"
            with client.websocket_connect("/ws") as b:
                assert Peer(b).recv()["method"] == "tick"
        assert len(started) == 1
        assert started[0] != threading.get_ident()
    finally:
        stop.set()


def test_connection_task_ends_with_the_connection(setup: Any) -> None:
    app, events, client = setup
    ended = threading.Event()

    def push(conn: Connection) -> None:
        try:
            while not conn.wait_closed(10 * MS):
                conn.emit("tick")
        finally:
            ended.set()

    @events.on_connect
    def start(conn: Connection) -> None:
        conn.start_task(push, conn)

    with client.websocket_connect("/ws") as ws:
        assert Peer(ws).recv() == {"jsonrpc": "2.0", "method": "tick"}
    assert ended.wait(TIMEOUT)


# -- send queue bounds ---------------------------------------------------------


def test_full_queue_closes_with_1013_without_waiting(setup: Any) -> None:
    app, events = make_app(max_queue=20, max_queue_bytes=10**9)
    client = TestClient(app)
    payload = "x" * 8192
    with (
        client.websocket_connect("/ws") as slow,
        client.websocket_connect("/ws") as fast,
    ):
        Peer(slow).call("add", [0, 0])
        fast_peer = Peer(fast)
        fast_peer.call("add", [0, 0])
        started = time.monotonic()
        received = 0
        for i in range(1000):
            events.broadcast("big", [i, payload])
            # The fast client reads as it goes.
            while received <= i - 5:
                assert fast_peer.recv()["params"][0] == received
                received += 1
        elapsed = time.monotonic() - started
        while received < 1000:
            assert fast_peer.recv()["params"][0] == received
            received += 1
        assert elapsed < 10
        assert events.stats["overflow_closed"] == 1
        # The slow client gets what was sent, then the 1013 Close.
        count = 0
        while True:
            message = slow.receive(timeout=TIMEOUT)
            if message is None:
                break
            count += 1
        assert slow.close_code == 1013
        assert 0 < count < 1000
        wait_for(lambda: len(events.connections) == 1, TIMEOUT)


def test_a_backlog_is_written_in_order_with_few_writes() -> None:
    # A client that does not read for a while gets its backlog in order,
    # nothing lost, the Close after it, and in far fewer writes than
    # messages: the writer frames what waits and writes it at once.
    app, events = make_app(max_queue=10_000, max_queue_bytes=10**9)
    writes: list[int] = []
    with TestClient(app).websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.call("add", [0, 0])
        (conn,) = events.connections.values()
        original = conn.websocket._write

        def counting_write(out: list[bytes]) -> None:
            writes.append(len(out))
            original(out)

        conn.websocket._write = counting_write  # type: ignore[method-assign]
        payload = "y" * 1000
        for i in range(2000):
            conn.emit("n", [i, payload])
        conn.close(1000, "done")
        for i in range(2000):
            assert peer.recv()["params"][0] == i
        assert ws.receive(timeout=TIMEOUT) is None
        assert ws.close_code == 1000 and ws.close_reason == "done"
    assert events.stats["sent"] >= 2001
    assert 0 < len(writes) < 1000, len(writes)


def test_drop_oldest_keeps_the_connection_and_the_replies() -> None:
    app, events = make_app(max_queue=10, max_queue_bytes=10**9, overflow="drop_oldest")
    release = threading.Event()

    @events.on("wait")
    def wait(conn: Connection, params: Any) -> Any:
        return "replied"

    with TestClient(app).websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.call("add", [0, 0])
        conn = next(iter(events.connections.values()))
        payload = "y" * 65536
        for i in range(200):
            try:
                conn.emit("big", [i, payload])
            except ConnectionClosed:  # pragma: no cover - reported below
                pytest.fail("drop_oldest closed the connection")
        assert events.stats["dropped"] > 0
        assert events.stats["overflow_closed"] == 0
        release.set()
        seen = []
        while True:
            message = peer.recv()
            seen.append(message["params"][0])
            if message["params"][0] == 199:
                break
        assert seen == sorted(seen)
        assert len(seen) < 200
        assert peer.call("wait")["result"] == "replied"


# -- other ways in -------------------------------------------------------------


def test_events_as_a_wsgi_app_and_behind_a_route() -> None:
    events = Events()

    @events.on("hi")
    def hi(conn: Connection, params: Any) -> Any:
        return "hello " + params["name"]

    with TestClient(events).websocket_connect("/anywhere") as ws:
        assert Peer(ws).call("hi", {"name": "ada"})["result"] == "hello ada"

    app = WSocketApp()

    @app.websocket("/rpc/<room>")
    def rpc(ws: Any, room: str) -> None:
        events.serve(ws)

    with TestClient(app).websocket_connect("/rpc/x") as ws:
        assert Peer(ws).call("hi", {"name": "bob"})["result"] == "hello bob"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        Events(overflow="block")
    with pytest.raises(ValueError):
        Events(max_queue=0)
    with pytest.raises(TypeError):
        Events(no_such_option=1)
    with pytest.raises(TypeError):
        WSocketApp().events("/ws", no_such_option=1)


def test_app_websocket_options_reach_the_endpoint() -> None:
    app = WSocketApp(max_message_size=100)
    app.events("/ws")
    with TestClient(app).websocket_connect("/ws") as ws:
        ws.send("x" * 200)
        assert ws.receive(timeout=TIMEOUT) is None
        assert ws.close_code == 1009


def test_drop_oldest_never_drops_a_reply() -> None:
    app, events = make_app(max_queue=8, max_queue_bytes=10**9, overflow="drop_oldest")
    with TestClient(app).websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.call("add", [0, 0])
        conn = next(iter(events.connections.values()))
        payload = "r" * 65536
        for i in range(100):
            conn.emit("before", [i, payload])
        # The reply joins the queue behind the events, then more events come.
        peer.send({"jsonrpc": "2.0", "method": "echo", "params": ["kept"], "id": "k"})
        # (A look inside: the reply is queued, as a message that may not drop.)
        wait_for(lambda: any(not entry[2] for entry in conn._queue), TIMEOUT)
        for i in range(100):
            conn.emit("after", [i, payload])
        assert events.stats["dropped"] > 0
        seen = []
        while True:
            message = peer.recv()
            seen.append(message.get("method") or message["id"])
            if message.get("method") == "after" and message["params"][0] == 99:
                break
        assert seen.count("k") == 1
        assert events.stats["overflow_closed"] == 0


def test_max_queue_bytes_bounds_the_queue() -> None:
    app, events = make_app(max_queue=10**6, max_queue_bytes=256 * 1024)
    with TestClient(app).websocket_connect("/ws") as ws:
        Peer(ws).call("add", [0, 0])
        conn = next(iter(events.connections.values()))
        payload = "b" * 16384
        with pytest.raises(ConnectionClosed) as info:
            for i in range(10000):
                conn.emit("big", [i, payload])
        assert info.value.code == 1013
        assert events.stats["overflow_closed"] == 1


def test_events_behind_an_outer_middleware() -> None:
    from wsocket import WebSocketMiddleware

    events = Events()

    @events.authorize
    def only_good(request: Any) -> Any:
        return request.query.get("t") == "good"

    @events.on("ping")
    def ping(conn: Connection, params: Any) -> Any:
        return "pong"

    client = TestClient(WebSocketMiddleware(events))
    with client.websocket_connect("/ws?t=good") as ws:
        assert Peer(ws).call("ping")["result"] == "pong"
    # Upgraded before the hook could answer: refusing is a close with 1008.
    with client.websocket_connect("/ws?t=bad") as ws:
        assert ws.receive(timeout=TIMEOUT) is None
        assert ws.close_code == 1008


def test_a_flood_does_not_starve_a_pending_call(setup: Any) -> None:
    app, events, client = setup

    @events.on("ask")
    def ask(conn: Connection, params: Any) -> Any:
        return conn.call("client.answer", timeout=TIMEOUT)

    @events.on("note")
    def note(conn: Connection, params: Any) -> None:
        conn.state["notes"] = conn.state.get("notes", 0) + 1

    @events.on("notes")
    def notes(conn: Connection, params: Any) -> Any:
        return conn.state.get("notes", 0)

    with client.websocket_connect("/ws") as ws:
        peer = Peer(ws)
        peer.send({"jsonrpc": "2.0", "method": "ask", "id": "a"})
        request = peer.recv()
        # Far more messages than may wait for the worker, then the reply.
        for _ in range(500):
            peer.emit("note")
        started = time.monotonic()
        peer.send({"jsonrpc": "2.0", "result": 42, "id": request["id"]})
        assert peer.recv() == {"jsonrpc": "2.0", "result": 42, "id": "a"}
        assert time.monotonic() - started < 2000 * MS
        assert peer.call("notes")["result"] == 500


def test_path_parameters_reach_the_request() -> None:
    app = WSocketApp()
    events = app.events("/rooms/<name>")

    @events.on("where")
    def where(conn: Connection, params: Any) -> Any:
        return conn.request.environ["wsgiorg.routing_args"][1]

    with TestClient(app).websocket_connect("/rooms/kitchen") as ws:
        assert Peer(ws).call("where")["result"] == {"name": "kitchen"}
