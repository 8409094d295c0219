"""RedisBackend and Emitter against a real redis-server and real servers.

Every test starts its own ``redis-server`` on a free 127.0.0.1 port
(no persistence) and the Redis test app (``redis_app.py``) under run()
and gunicorn, and speaks JSON-RPC to it with ``websockets`` clients.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import time
import urllib.request
from typing import Any, Iterator, List

import pytest
from helpers import WebsocketsRPCPeer

from .config_gunicorn import gunicorn_argv
from .harness import (
    PYTHON,
    RedisServer,
    ServerProcess,
    free_port,
    redis_missing,
    wait_for,
)

MISSING = redis_missing()
pytestmark = [
    pytest.mark.redis,
    pytest.mark.timeout(240),
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE = os.path.join(HERE, "serve_redis.py")
APP = "tests.integration.redis_app:app"
TIMEOUT = 10.0


class Client(WebsocketsRPCPeer):
    """A peer that knows its connection id and worker pid from ``whoami``."""

    def __init__(self, port: int) -> None:
        super().__init__(port, timeout=TIMEOUT)
        me = self.result("whoami")
        self.id: str = me["id"]
        self.pid: int = me["pid"]


def run_server(port: int, mode: str, env: dict[str, str]) -> ServerProcess:
    return ServerProcess([PYTHON, SERVE, str(port), mode], port, env=env)


def gunicorn_server(port: int, env: dict[str, str], *options: str) -> ServerProcess:
    argv = gunicorn_argv(*options, app=APP)(port)
    return ServerProcess(argv, port, env=env)


def redis_client(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url, socket_timeout=5)


def subscribers(server: RedisServer, channel: str = "wsocket") -> int:
    try:
        return int(redis_client(server).pubsub_numsub(channel)[0][1])
    except Exception:
        return -1


def error_lines(log: str) -> List[str]:
    return [line for line in log.splitlines() if "ERROR" in line or "Traceback" in line]


@contextlib.contextmanager
def clients(ports: List[int], count: int) -> Iterator[List[Client]]:
    opened: List[Client] = []
    try:
        for i in range(count):
            opened.append(Client(ports[i % len(ports)]))
        yield opened
    finally:
        for client in opened:
            # Read what is left first: a client whose queue is full stops
            # reading, and would wait for the closing frame in vain.
            with contextlib.suppress(Exception):
                while True:
                    client.ws.recv(0)
            client.ws.close()


def test_emitter_reaches_rooms_and_connections() -> None:
    from wsocket.realtime import Emitter

    with RedisServer() as redis_server:
        env = {"WSOCKET_TEST_REDIS": redis_server.url}
        port = free_port()
        with run_server(port, "threading", env) as server:
            with clients([port], 3) as (red, blue, other):
                red.result("join", {"room": "red"})
                blue.result("join", {"room": "blue"})
                assert wait_for(lambda: subscribers(redis_server) == 1, TIMEOUT)
                with Emitter(redis_server.url) as emitter:
                    assert emitter.broadcast("news", {"n": 1}, room="red") == 1
                    assert emitter.emit_to(blue.id, "direct", [2]) == 1
                    assert emitter.broadcast("all", None, exclude=other.id) == 1
                    assert emitter.broadcast("all", "second") == 1
                assert red.until("all") == [
                    {"jsonrpc": "2.0", "method": "news", "params": {"n": 1}},
                    {"jsonrpc": "2.0", "method": "all"},
                ]
                assert blue.until("all") == [
                    {"jsonrpc": "2.0", "method": "direct", "params": [2]},
                    {"jsonrpc": "2.0", "method": "all"},
                ]
                # Excluded from the first "all": the second is its first event.
                assert other.until("all") == [
                    {"jsonrpc": "2.0", "method": "all", "params": "second"}
                ]
                stats = red.result("stats")["stats"]
                assert stats["received"] == 4
                assert stats["published"] == 0
            server.stop()
            assert error_lines(server.log()) == []


def test_emitter_refuses_what_json_cannot_carry() -> None:
    from wsocket.realtime import Emitter

    with RedisServer() as redis_server:
        with Emitter(redis_server.url) as emitter:
            with pytest.raises(TypeError, match="JSON-serialisable"):
                emitter.broadcast("x", {1, 2})
            with pytest.raises(TypeError, match="method name"):
                emitter.broadcast(3, None)  # type: ignore[arg-type]


def once_owner(redis_server: RedisServer, beats: int = 5) -> int:
    """The one pid that ran the task for the next ``beats`` beats (0.1 s)."""
    client = redis_client(redis_server)
    client.delete("once-ran")
    assert wait_for(lambda: client.llen("once-ran") >= beats, beats * 0.5)
    pids = {int(pid) for pid in client.lrange("once-ran", 0, -1)}
    assert len(pids) == 1, f"the task ran in {pids}"
    return pids.pop()


@pytest.mark.parametrize(
    ("second", "how"), [("gevent-unpatched", "SIGKILL"), ("threading", "SIGTERM")]
)
def test_once_runs_in_one_process_and_moves_when_it_dies(second: str, how: str) -> None:
    """Killed, the owner's key expires and the other process takes the task
    over within the expiry (and a quarter); stopped, it gives the key back
    as it exits, and the other takes over within a quarter of the expiry."""
    expiry = 2.0
    with RedisServer() as redis_server:
        env = {
            "WSOCKET_TEST_REDIS": redis_server.url,
            "WSOCKET_TEST_LOCK_EXPIRY": str(expiry),
        }
        ports = [free_port(), free_port()]
        with (
            run_server(ports[0], "threading", env) as first,
            run_server(ports[1], second, env) as other,
        ):
            procs = {first.pid: first, other.pid: other}
            # Tasks start with serving, so connect once to each process.
            with clients(ports, 2) as (a, b):
                assert {a.pid, b.pid} == set(procs)
                owner = once_owner(redis_server)
                assert owner in procs
                # Still one owner over a few renewals.
                assert once_owner(redis_server, int(expiry * 20)) == owner
                b_alive = b if owner == a.pid else a
                client = redis_client(redis_server)
                (key,) = client.keys("wsocket:once:*")
                assert client.get(key).endswith(f":{owner}".encode())
                procs[owner].signal(getattr(signal, how))
                assert procs[owner].wait(10) is not None
                killed = time.monotonic()
                if how == "SIGTERM":
                    # Given back as it exited (the survivor may hold it already).
                    holder = client.get(key)
                    assert holder is None or not holder.endswith(f":{owner}".encode())
                # Only the survivor can push from now on.
                client.delete("once-ran")
                assert wait_for(
                    lambda: (
                        str(b_alive.pid).encode() in client.lrange("once-ran", 0, -1)
                    ),
                    expiry * 3,
                )
                took = time.monotonic() - killed
                bound = expiry * 1.25 if how == "SIGKILL" else expiry / 4
                assert took <= bound + 1.0, (how, took)
                print(f"{how}: the task moved {took:.2f} s after the owner died")
                assert once_owner(redis_server) == b_alive.pid
            survivor = procs[b_alive.pid]
            survivor.stop()
            assert error_lines(survivor.log()) == []


def said(client: Client, marker: str) -> List[str]:
    """The texts of the ``said`` events a client got, up to ``marker``."""
    texts: List[str] = []
    while not texts or texts[-1] != marker:
        event = client.event()
        if event["method"] == "said":
            texts.append(event["params"]["text"])
    return texts


def test_cluster_of_run_and_gunicorn_gevent() -> None:
    with RedisServer() as redis_server:
        env = {"WSOCKET_TEST_REDIS": redis_server.url}
        ports = [free_port(), free_port()]
        with (
            run_server(ports[0], "threading", env) as plain,
            gunicorn_server(ports[1], env, "-k", "gevent", "-w", "2") as gun,
        ):
            with clients(ports, 50) as everyone:
                pids = {c.pid for c in everyone}
                spread = collections.Counter(c.pid for c in everyone)
                print(f"clients per process: {sorted(spread.values())}")
                assert plain.pid in pids and len(pids) >= 2, pids
                # Clients alternate between the servers, rooms every two.
                rooms = {
                    "red": [c for i, c in enumerate(everyone) if i % 4 < 2],
                    "blue": [c for i, c in enumerate(everyone) if i % 4 >= 2],
                }
                for name, members in rooms.items():
                    for client in members:
                        client.result("join", {"room": name})
                assert wait_for(
                    lambda: subscribers(redis_server) == len(pids), TIMEOUT
                ), (subscribers(redis_server), pids)

                def check(sender: Client, room: str, text: str) -> None:
                    sender.result("say", {"room": room, "text": text})
                    # A marker to all, after it, from the same process.
                    sender.result("say", {"text": f"end-{text}"})
                    for client in everyone:
                        if client is sender:
                            continue
                        texts = said(client, f"end-{text}")
                        expected = [text] if client in rooms[room] else []
                        assert texts == expected + [f"end-{text}"], (client.pid,)

                check(rooms["red"][0], "red", "from-run")  # on run()
                on_gunicorn = next(c for c in rooms["blue"] if c.pid != plain.pid)
                check(on_gunicorn, "blue", "from-gunicorn")

                # emit_to across processes, both ways.
                target = next(c for c in everyone if c.pid != plain.pid)
                everyone[0].result(
                    "emit_to", {"id": target.id, "method": "psst", "params": [1]}
                )
                assert target.until("psst")[-1]["params"] == [1]
                on_run = next(c for c in everyone[1:] if c.pid == plain.pid)
                target.result(
                    "emit_to", {"id": on_run.id, "method": "psst", "params": [2]}
                )
                assert on_run.until("psst")[-1]["params"] == [2]

                # Redis dies: local traffic goes on, and nothing crosses.
                redis_server.kill()
                for port in ports:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/", timeout=TIMEOUT
                    ) as response:
                        assert response.status == 200
                sender = rooms["red"][0]
                sender.result("say", {"room": "red", "text": "down"})
                sender.result("say", {"room": "red", "text": "end-down"})
                for client in rooms["red"][1:]:
                    if client.pid == plain.pid:
                        texts = said(client, "end-down")
                        assert texts == ["down", "end-down"]

                # Back on the same port: broadcasts cross again in 10 s.
                redis_server.start()
                restarted = time.monotonic()
                listener = next(c for c in rooms["red"] if c.pid != plain.pid)
                listener.events.clear()
                crossed = None
                n = 0
                while crossed is None and time.monotonic() - restarted < 10:
                    n += 1
                    sender.result("say", {"room": "red", "text": f"back-{n}"})
                    try:
                        crossed = listener.event(0.25)
                    except TimeoutError:
                        pass
                took = time.monotonic() - restarted
                assert crossed is not None, "nothing crossed 10 s after the restart"
                assert crossed["params"]["text"].startswith("back-")
                assert took < 10
                print(f"broadcasts crossed again {took:.2f} s after the restart")

                stats = sender.result("stats")["stats"]
                assert stats["redis_down"] >= 1
                assert stats["publish_failed"] >= 1
                assert stats["published"] >= 4
                other_stats = listener.result("stats")["stats"]
                assert other_stats["received"] >= 3
            for proc in (plain, gun):
                proc.stop()
                log = proc.log()
            assert error_lines(log) == [], log[-3000:]
            assert "is unreachable" in log
            assert "reachable again" in log


PAIRS = {
    "run-gevent": lambda port, env: run_server(port, "gevent", env),
    "run-gevent-unpatched": lambda port, env: run_server(port, "gevent-unpatched", env),
    "gunicorn-gthread": lambda port, env: gunicorn_server(
        port, env, "-k", "gthread", "--threads", "20", "-w", "2"
    ),
}


@pytest.mark.parametrize("mode", sorted(PAIRS))
def test_pair_with_a_frozen_redis(mode: str) -> None:
    """run() threads and another mode exchange broadcasts; a frozen Redis
    (SIGSTOP) holds up no request, and broadcasts cross once it thaws."""
    if "gevent" in mode:
        pytest.importorskip("gevent")
    if "gunicorn" in mode:
        pytest.importorskip("gunicorn")
    with RedisServer() as redis_server:
        env = {"WSOCKET_TEST_REDIS": redis_server.url}
        ports = [free_port(), free_port()]
        with (
            run_server(ports[0], "threading", env) as plain,
            PAIRS[mode](ports[1], env) as other,
        ):
            with clients(ports, 8) as everyone:
                pids = {c.pid for c in everyone}
                for client in everyone:
                    client.result("join", {"room": "room"})
                assert wait_for(lambda: subscribers(redis_server) == len(pids), TIMEOUT)
                a, b = everyone[0], everyone[1]
                for sender in (a, b):
                    sender.result("say", {"room": "room", "text": "hi"})
                    sender.result("say", {"room": "room", "text": "end"})
                    for client in everyone:
                        if client is not sender:
                            assert said(client, "end") == ["hi", "end"]
                a.result("emit_to", {"id": b.id, "method": "psst", "params": "a"})
                assert b.until("psst")[-1]["params"] == "a"
                b.result("emit_to", {"id": a.id, "method": "psst", "params": "b"})
                assert a.until("psst")[-1]["params"] == "b"

                assert redis_server.proc is not None
                redis_server.proc.signal(signal.SIGSTOP)
                try:
                    local = [c for c in everyone[3:] if c.pid == b.pid]
                    for n in range(20):
                        b.result("say", {"room": "room", "text": f"frozen-{n}"})
                    started = time.monotonic()
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{ports[1]}/", timeout=TIMEOUT
                    ) as response:
                        assert response.status == 200
                    b.result("say", {"room": "room", "text": "end-frozen"})
                    for client in local:
                        texts = said(client, "end-frozen")
                        assert texts[-1] == "end-frozen" and len(texts) == 21
                    took = time.monotonic() - started
                    # A blocked hub would wait for the 5 s socket timeout.
                    assert took < 2.5, f"a frozen Redis held requests {took:.2f} s"
                finally:
                    redis_server.proc.signal(signal.SIGCONT)

                thawed = time.monotonic()
                listener = next(c for c in everyone if c.pid != b.pid)
                crossed = None
                while crossed is None and time.monotonic() - thawed < 10:
                    b.result("say", {"room": "room", "text": "thawed"})
                    try:
                        while crossed is None:
                            event = listener.event(0.25)
                            if event["params"]["text"] == "thawed":
                                crossed = event
                    except TimeoutError:
                        pass
                assert crossed is not None, "nothing crossed 10 s after the thaw"
            for proc in (plain, other):
                proc.stop()
                log = proc.log()
                assert error_lines(log) == [], log[-3000:]
