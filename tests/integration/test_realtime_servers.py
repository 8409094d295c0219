"""The events endpoint under real servers, spoken to with the websockets library.

``realtime_app.py`` runs under wsocket's run() (threads, and gevent), and
under gunicorn's gevent and gthread workers. Each test speaks raw JSON-RPC
2.0 text over ``websockets`` clients: error codes, batches, calls in both
directions, order, ``concurrent=True``, rooms, ``emit_to``, pushes from a
background task, disconnect events, authorization, and a client that never
reads while a hundred others receive a burst of broadcasts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from typing import Any

import pytest
from helpers import WebsocketsRPCPeer, encode_frame

from .config_gunicorn import gunicorn_argv
from .harness import PYTHON, ServerConfig, wait_for

pytestmark = pytest.mark.timeout(180)

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE = os.path.join(HERE, "serve_realtime.py")
APP = "tests.integration.realtime_app:app"
TIMEOUT = 10.0

SERVERS = [
    ServerConfig("run-threading", lambda port: [PYTHON, SERVE, str(port), "threading"]),
    ServerConfig(
        "run-gevent",
        lambda port: [PYTHON, SERVE, str(port), "gevent"],
        requires=["gevent"],
    ),
    ServerConfig(
        "gunicorn-gevent",
        gunicorn_argv("-k", "gevent", app=APP),
        requires=["gunicorn", "gevent"],
    ),
    ServerConfig(
        "gunicorn-gthread",
        gunicorn_argv("-k", "gthread", "--threads", "160", app=APP),
        requires=["gunicorn"],
    ),
]


@pytest.fixture(scope="module", params=SERVERS, ids=lambda config: config.name)
def server(request: Any) -> Any:
    config: ServerConfig = request.param
    missing = config.missing()
    if missing:
        pytest.skip(f"{config.name} needs {', '.join(missing)}")
    with config.process() as proc:
        yield proc


class Peer(WebsocketsRPCPeer):
    """A JSON-RPC 2.0 peer over a ``websockets`` sync client, on ``/ws``."""

    def __init__(self, port: int, query: str = "") -> None:
        super().__init__(port, query, timeout=TIMEOUT)


def test_error_codes(server: Any) -> None:
    with Peer(server.port) as peer:
        peer.send("{oops")
        assert peer.recv() == {
            "jsonrpc": "2.0",
            "error": {"code": -32700, "message": "Parse error"},
            "id": None,
        }
        peer.send('{"jsonrpc": "2.0", "id": 4}')
        reply = peer.recv()
        assert reply["error"]["code"] == -32600 and reply["id"] == 4
        assert peer.call("nope")["error"]["code"] == -32601
        assert peer.call("add", [1])["error"] == {
            "code": -32602,
            "message": "add takes two numbers",
        }
        boom = peer.call("boom")
        assert boom["error"] == {"code": -32603, "message": "Internal error"}
        peer.send("[" * 100000)
        assert peer.recv()["error"]["code"] == -32600
        assert peer.result("add", [2, 3]) == 5
    assert "a secret detail" in server.log()  # logged with its traceback
    assert "Traceback" in server.log()


def test_batches(server: Any) -> None:
    with Peer(server.port) as peer:
        peer.send(
            [
                {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": 1},
                {"jsonrpc": "2.0", "method": "append", "params": ["x"]},
                {"jsonrpc": "2.0", "method": "echo", "params": ["e"], "id": 2},
                {"jsonrpc": "2.0", "method": "log", "id": 3},
            ]
        )
        assert peer.recv() == [
            {"jsonrpc": "2.0", "result": 3, "id": 1},
            {"jsonrpc": "2.0", "result": ["e"], "id": 2},
            {"jsonrpc": "2.0", "result": ["x"], "id": 3},
        ]
        peer.send(
            [{"jsonrpc": "2.0", "method": "append", "params": [i]} for i in range(3)]
        )
        assert peer.result("log") == ["x", 0, 1, 2]  # nothing came before it
        peer.send("[]")
        assert peer.recv()["error"]["code"] == -32600


def test_calls_both_ways(server: Any) -> None:
    with Peer(server.port) as peer:
        peer.emit("ask", {"method": "client.double", "params": [21]})
        request = peer.recv()
        assert request["method"] == "client.double" and request["params"] == [21]
        peer.send({"jsonrpc": "2.0", "result": 42, "id": request["id"]})
        # Not a call from us, so no reply: the next message answers the next call.
        assert peer.result("echo", ["next"]) == ["next"]

        peer.send(
            {
                "jsonrpc": "2.0",
                "method": "ask",
                "params": {"method": "client.fail"},
                "id": "e",
            }
        )
        request = peer.recv()
        peer.send(
            {
                "jsonrpc": "2.0",
                "error": {"code": 12, "message": "no"},
                "id": request["id"],
            }
        )
        assert peer.recv()["result"] == {"error": [12, "no"]}

        peer.send(
            {
                "jsonrpc": "2.0",
                "method": "ask",
                "params": {"method": "client.silent", "timeout": 0.3},
                "id": "t",
            }
        )
        assert peer.recv()["method"] == "client.silent"
        assert peer.recv() == {"jsonrpc": "2.0", "result": {"timeout": True}, "id": "t"}


def test_order_and_concurrent(server: Any) -> None:
    with Peer(server.port) as peer:
        for i in range(200):
            peer.emit("append", [i])
        assert peer.result("log") == list(range(200))
        peer.send({"jsonrpc": "2.0", "method": "slow", "id": "slow"})
        # Answered while "slow" still runs: it does not hold the others up.
        assert peer.result("add", [1, 1]) == 2
        assert peer.result("release") is True
        assert peer.recv() == {"jsonrpc": "2.0", "result": True, "id": "slow"}


def test_rooms_emit_to_and_background_push(server: Any) -> None:
    with Peer(server.port) as a, Peer(server.port) as b, Peer(server.port) as c:
        for peer in (a, b):
            assert peer.result("join", {"room": "lobby"}) == ["lobby"]
        assert c.result("join", {"room": "ticks"}) == ["ticks"]
        a.emit("say", {"room": "lobby", "text": "hi"})
        assert b.recv() == {
            "jsonrpc": "2.0",
            "method": "said",
            "params": {"room": "lobby", "text": "hi"},
        }
        assert a.result("add", [0, 0]) == 0  # the sender was excluded

        b_id = b.result("whoami")
        a.emit("emit_to", {"id": b_id, "method": "private", "params": [7]})
        assert b.recv() == {"jsonrpc": "2.0", "method": "private", "params": [7]}

        # The background task, started at import, pushes to the room.
        assert c.recv() == {"jsonrpc": "2.0", "method": "tick"}
        assert c.recv() == {"jsonrpc": "2.0", "method": "tick"}
        assert a.result("stats")["starts"] == 1  # once in this process


def test_disconnect_events_clean_and_abrupt(server: Any) -> None:
    with Peer(server.port) as watcher:
        with Peer(server.port) as clean:
            clean_id = clean.result("whoami")
        abrupt = Peer(server.port)
        abrupt_id = abrupt.result("whoami")
        # Drop TCP without a closing handshake.
        abrupt.ws.socket.shutdown(socket.SHUT_RDWR)
        abrupt.ws.socket.close()
        wait_for(
            lambda: (
                {clean_id, abrupt_id} <= set(watcher.result("stats")["disconnected"])
            ),
            TIMEOUT,
        )
        assert {clean_id, abrupt_id} <= set(watcher.result("stats")["disconnected"])


def test_authorize_and_before(server: Any) -> None:
    from websockets.exceptions import InvalidStatus

    for status in (401, 403):
        with pytest.raises(InvalidStatus) as info:
            Peer(server.port, f"?auth={status}")
        assert info.value.response.status_code == status
    with Peer(server.port, "?auth=ok") as peer:
        assert peer.call("secret.read")["error"] == {
            "code": 4003,
            "message": "forbidden",
        }


# -- a client that never reads ---------------------------------------------------


def silent_client(port: int) -> socket.socket:
    """Open a WebSocket with a raw socket that will never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.sendall(
        encode_frame(
            1, json.dumps({"jsonrpc": "2.0", "method": "whoami", "id": 1}).encode()
        )
    )
    return sock


async def readers(
    port: int, count: int, ready: asyncio.Event, total: int
) -> list[float]:
    """``count`` clients that read every broadcast; return when each got ``total``."""
    from websockets.asyncio.client import connect

    opened = 0
    all_open = asyncio.Event()

    async def one() -> float:
        nonlocal opened
        async with connect(
            f"ws://127.0.0.1:{port}/ws",
            compression=None,
            open_timeout=30,
            max_size=2**20,
        ) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "whoami", "id": 1}))
            assert json.loads(await ws.recv())["id"] == 1
            opened += 1
            if opened == count:
                all_open.set()
            expected = 0
            while expected < total:
                message = json.loads(await ws.recv())
                if message.get("method") != "blast":
                    continue
                assert message["params"][0] == expected
                expected += 1
            return time.monotonic()

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    await asyncio.wait_for(all_open.wait(), 60)
    ready.set()
    return list(await asyncio.wait_for(asyncio.gather(*tasks), 60))


def test_slow_reader_is_disconnected_and_holds_no_one_up(server: Any) -> None:
    import threading

    count, total, size = 100, 1000, 8192
    silent = silent_client(server.port)
    loop = asyncio.new_event_loop()
    ready = asyncio.Event()
    results: dict[str, Any] = {}

    def run_readers() -> None:
        try:
            results["done"] = loop.run_until_complete(
                readers(server.port, count, ready, total)
            )
        except BaseException as exc:
            results["error"] = exc

    thread = threading.Thread(target=run_readers, daemon=True)
    thread.start()
    try:
        with Peer(server.port) as control:
            wait_for(lambda: ready.is_set() or "error" in results, 60)
            assert "error" not in results, results
            before = control.result("stats")
            assert before["connections"] == count + 2
            started = time.monotonic()
            control.send(
                {
                    "jsonrpc": "2.0",
                    "method": "blast",
                    "params": {"count": total, "size": size},
                    "id": "b",
                }
            )
            blasted = control.recv(60)
            while blasted.get("id") != "b":
                blasted = control.recv(60)
            thread.join(60)
            assert "done" in results, results
            finished = max(results["done"]) - started
            # The silent client is closed, and counted; the readers are not.
            wait_for(
                lambda: control.result("stats")["connections"] == count + 1, TIMEOUT
            )
            stats = control.result("stats")["stats"]
            assert stats["overflow_closed"] == before["stats"]["overflow_closed"] + 1
        # The silent client's connection was dropped: reading now, it gets what
        # the buffers held, then the end of the connection.
        silent.settimeout(TIMEOUT)
        received = 0
        while True:
            try:
                chunk = silent.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += len(chunk)
        assert received < total * size
        print(
            f"{server.name}: {count} readers got {total} x {size} B in "
            f"{finished:.2f}s (server loop {blasted['result']:.2f}s)"
        )
        assert finished < 30
    finally:
        silent.close()
        thread.join(5)
        loop.close()
