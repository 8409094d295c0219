"""wsocket.realtime.redis in one process: two endpoints stand for two processes.

Each endpoint has its own RedisBackend (so its own process id in the
envelopes) on a real redis-server started for the test; clients are
in-process TestClient sessions. The multi-process behaviour is in
tests/integration/test_redis.py.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Collection, Iterator, Optional, Sequence

import pytest
from helpers import MS, wait_for
from integration.harness import RedisServer, free_port, redis_missing
from test_realtime_backends import Recorder, call, endpoint

from wsocket.realtime import (
    Broadcast,
    Emitter,
    Events,
    MemoryBackend,
    RedisBackend,
)
from wsocket.testing import TestClient

MISSING = redis_missing()
pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

TIMEOUT = 5000 * MS


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def subscribers(url: str, channel: str = "wsocket") -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.pubsub_numsub(channel)[0][1])
    finally:
        client.close()


def receive(ws: Any) -> Any:
    return json.loads(ws.receive(timeout=TIMEOUT) or "null")


def test_sends_cross_and_are_delivered_once(redis_server: RedisServer) -> None:
    backend_a = RedisBackend(redis_server.url)
    backend_b = RedisBackend(redis_server.url)
    app_a, events_a = endpoint(backend_a)
    app_b, events_b = endpoint(backend_b)
    try:
        with (
            TestClient(app_a).websocket_connect("/ws") as a,
            TestClient(app_a).websocket_connect("/ws") as a2,
            TestClient(app_b).websocket_connect("/ws") as b,
        ):
            a_id = call(a, "join", ["lobby"])
            call(a2, "join", ["lobby"])
            b_id = call(b, "join", ["lobby"])
            wait_for(lambda: subscribers(redis_server.url) == 2, TIMEOUT)
            assert backend_a.origin != backend_b.origin

            call(a, "say", ["lobby", "one"], 2)
            call(a, "say", ["lobby", "two"], 3)
            said = {"jsonrpc": "2.0", "method": "said"}
            # Locally delivered once, not again from Redis; the sender is
            # excluded on both sides.
            assert receive(a2) == {**said, "params": "one"}
            assert receive(a2) == {**said, "params": "two"}
            assert receive(b) == {**said, "params": "one"}
            assert receive(b) == {**said, "params": "two"}

            published = events_b.stats["published"]
            # Local: delivered before the reply, and not published.
            b.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "method": "tell",
                        "id": 4,
                        "params": [b_id, "to myself"],
                    }
                )
            )
            assert receive(b)["params"] == "to myself"
            assert receive(b)["id"] == 4
            call(b, "tell", [a_id, "psst"], 5)
            assert receive(a) == {"jsonrpc": "2.0", "method": "told", "params": "psst"}
            wait_for(lambda: events_b.stats["published"] == published + 1, TIMEOUT)
            assert events_a.stats["published"] == 2
            assert events_a.stats["received"] == 1
            assert events_b.stats["received"] == 2
            assert events_a.stats["publish_failed"] == 0
            # Nothing else came: a2 gets this one next, not a duplicate.
            call(b, "say", ["lobby", "last"], 6)
            assert receive(a2) == {**said, "params": "last"}
    finally:
        backend_a.stop()
        backend_b.stop()


def test_params_that_json_cannot_carry_are_refused(redis_server: RedisServer) -> None:
    events = Events(backend=RedisBackend(redis_server.url))
    try:
        with pytest.raises(TypeError, match="JSON-serialisable"):
            events.broadcast("m", {1, 2})
        with pytest.raises(TypeError, match="JSON-serialisable"):
            events.emit_to("someone", "m", object())
        assert events.stats["publish_failed"] == 0
    finally:
        events.backend.stop()


def test_redis_down_delivers_locally_warns_once_then_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wsocket.realtime.redis")
    port = free_port()
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    backend = RedisBackend(url, reconnect_max=0.2)
    app, events = endpoint(backend)
    try:
        with (
            TestClient(app).websocket_connect("/ws") as a,
            TestClient(app).websocket_connect("/ws") as a2,
        ):
            call(a, "join", ["lobby"])
            call(a2, "join", ["lobby"])
            for n in range(5):
                call(a, "say", ["lobby", n], 2 + n)
                assert receive(a2)["params"] == n
            wait_for(lambda: events.stats["publish_failed"] == 5, TIMEOUT)
            assert events.stats["published"] == 0
            warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(warnings) == 1
            assert warnings[0].levelno == logging.WARNING
            assert "hunter2" not in caplog.text
            assert f"redis://***@127.0.0.1:{port}/0" in warnings[0].getMessage()

            with RedisServer(port, "--requirepass", "hunter2"):
                wait_for(lambda: subscribers(url) == 1, TIMEOUT)
                wait_for(lambda: "reachable again" in caplog.text, TIMEOUT)
                call(a, "say", ["lobby", "back"], 10)
                assert receive(a2)["params"] == "back"
                wait_for(lambda: events.stats["published"] == 1, TIMEOUT)
                assert events.stats["redis_down"] == 1
            assert "hunter2" not in caplog.text
    finally:
        backend.stop()


def test_what_is_not_an_envelope_is_ignored_with_a_warning(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend(redis_server.url)
    app, events = endpoint(backend)
    try:
        with TestClient(app).websocket_connect("/ws") as a:
            call(a, "join", ["lobby"])
            wait_for(lambda: subscribers(redis_server.url) == 1, TIMEOUT)
            import redis

            client = redis.Redis.from_url(redis_server.url)
            client.publish("wsocket", b"\xff not json")
            client.publish("wsocket", b'{"k": "b"}')
            client.close()
            with Emitter(redis_server.url) as emitter:
                emitter.broadcast("after", 1, room="lobby")
            assert receive(a) == {"jsonrpc": "2.0", "method": "after", "params": 1}
            notes = [r for r in caplog.records if "not a wsocket envelope" in r.message]
            assert len(notes) == 2
            assert events.stats["received"] == 1
    finally:
        backend.stop()


def test_a_backlog_from_redis_is_delivered_in_batches_in_order(
    redis_server: RedisServer,
) -> None:
    # While the subscriber is busy, broadcasts pile up in its socket; it
    # then hands consecutive ones over together (deliver_many), each
    # emit_to in its place between them.
    entered = threading.Event()
    release = threading.Event()

    class Batches(Recorder):
        def deliver(
            self,
            method: str,
            params: Any,
            room: Optional[str],
            exclude: Collection[str],
        ) -> int:
            if params == 0:
                entered.set()
                release.wait(TIMEOUT)
            return super().deliver(method, params, room, exclude)

        def deliver_many(self, broadcasts: Sequence[Broadcast]) -> int:
            self.calls.append(("many", [params for _, params, _, _ in broadcasts]))
            return len(broadcasts)

    def received() -> int:
        return sum(len(call[1]) if call[0] == "many" else 1 for call in recorder.calls)

    backend = RedisBackend(redis_server.url)
    recorder = Batches()
    backend.start(recorder)
    try:
        wait_for(lambda: subscribers(redis_server.url) == 1, TIMEOUT)
        with Emitter(redis_server.url) as emitter:
            emitter.broadcast("n", 0)
            assert entered.wait(TIMEOUT)
            for n in range(1, 11):
                emitter.broadcast("n", n, room="r")
            emitter.emit_to("someone", "n", 11)
            for n in range(12, 16):
                emitter.broadcast("n", n)
        release.set()
        wait_for(lambda: received() == 16, TIMEOUT)
        assert recorder.calls == [
            ("n", 0, None, ()),
            ("many", list(range(1, 11))),
            ("someone", "n", 11),
            ("many", list(range(12, 16))),
        ]
    finally:
        release.set()
        backend.stop()


def test_a_channel_per_endpoint(redis_server: RedisServer) -> None:
    backend = RedisBackend(redis_server.url, channel="admin")
    app, events = endpoint(backend)
    try:
        with TestClient(app).websocket_connect("/ws") as a:
            call(a, "join", ["lobby"])
            wait_for(lambda: subscribers(redis_server.url, "admin") == 1, TIMEOUT)
            with (
                Emitter(redis_server.url) as other,
                Emitter(redis_server.url, channel="admin") as admin,
            ):
                assert other.broadcast("elsewhere", None) == 0
                assert admin.broadcast("here", None) == 1
            assert receive(a) == {"jsonrpc": "2.0", "method": "here"}
    finally:
        backend.stop()


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((b"redis://x",), {}, TypeError, "url must be a string"),
        (("http://127.0.0.1",), {}, ValueError, "redis://, rediss:// or unix://"),
        (("redis://x",), {"channel": ""}, ValueError, "channel"),
        (("redis://x",), {"lock_expiry": 0}, ValueError, "lock_expiry"),
        (("redis://x",), {"max_pending": 0}, ValueError, "max_pending"),
        (("redis://x",), {"reconnect_max": -1}, ValueError, "reconnect_max"),
        (("redis://x",), {"ping_timeout": 0}, ValueError, "ping_timeout"),
    ],
)
def test_bad_settings_are_refused(
    args: Any, kwargs: Any, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        RedisBackend(*args, **kwargs)


def test_once_with_the_memory_backend_runs_in_this_process() -> None:
    ran = []
    app, events = endpoint(MemoryBackend())
    events.start_background_task(ran.append, "once", once=True)
    events.start_background_task(ran.append, "each")
    with TestClient(app).websocket_connect("/ws") as a:
        call(a, "join", ["lobby"])
        wait_for(lambda: len(ran) == 2, TIMEOUT)
    assert sorted(ran) == ["each", "once"]


def pair_exchange(make_backend: Any, emitter: Emitter) -> None:
    """Two endpoints on ``make_backend()`` exchange a broadcast; so does
    ``emitter``."""
    backend_a, backend_b = make_backend(), make_backend()
    app_a, events_a = endpoint(backend_a)
    app_b, events_b = endpoint(backend_b)
    try:
        with (
            TestClient(app_a).websocket_connect("/ws") as a,
            TestClient(app_b).websocket_connect("/ws") as b,
        ):
            call(a, "join", ["lobby"])
            call(b, "join", ["lobby"])
            # Both are subscribed once a broadcast (to an empty room)
            # reaches two processes.
            wait_for(lambda: emitter.broadcast("-", None, room="-") == 2, TIMEOUT)
            call(a, "say", ["lobby", "across"], 2)
            assert receive(b) == {
                "jsonrpc": "2.0",
                "method": "said",
                "params": "across",
            }
            wait_for(lambda: events_a.stats["published"] == 1, TIMEOUT)
    finally:
        backend_a.stop()
        backend_b.stop()


def test_rediss_urls_speak_tls(tmp_path: Any) -> None:
    from helpers import make_certificate

    pair = make_certificate(str(tmp_path))
    if pair is None:
        pytest.skip("needs the cryptography package or the openssl command")
    certfile, _ = pair
    with RedisServer(tls=pair) as server:
        assert server.url.startswith("rediss://")
        with Emitter(server.url, ssl_ca_certs=certfile) as emitter:
            pair_exchange(
                lambda: RedisBackend(server.url, ssl_ca_certs=certfile), emitter
            )


def test_sentinel_through_a_client_factory(
    redis_server: RedisServer, tmp_path: Any
) -> None:
    from integration.harness import ServerProcess
    from redis.sentinel import Sentinel

    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor primary 127.0.0.1 {redis_server.port} 1\n"
    )
    argv = [redis_server.binary, str(config), "--sentinel"]
    with ServerProcess(argv, port, ready_timeout=10.0):

        def primary() -> Any:
            sentinel = Sentinel([("127.0.0.1", port)], socket_timeout=2)
            return sentinel.master_for("primary", socket_timeout=5)

        wait_for(lambda: primary().ping(), TIMEOUT)
        with Emitter("redis://", client_factory=primary) as emitter:
            pair_exchange(
                lambda: RedisBackend("redis://", client_factory=primary), emitter
            )


@pytest.mark.parametrize("spawn", ["spawn", "spawn_raw"])
def test_started_in_a_greenlet_of_an_unpatched_hub_it_uses_that_hub(
    spawn: str,
) -> None:
    # wsocket's server runs each connection in a raw greenlet; gevent's
    # servers in a Greenlet. Either way the backend's tasks go to that hub.
    gevent = pytest.importorskip("gevent")
    from gevent import monkey

    from wsocket.realtime.redis import _Runtime

    if monkey.is_module_patched("socket"):
        pytest.skip("this process is monkey-patched")
    hubs: list[Any] = []
    getattr(gevent, spawn)(lambda: hubs.append(_Runtime().hub))
    for _ in range(1000):
        if hubs:
            break
        gevent.sleep(0.001)
    assert hubs == [gevent.get_hub()]
    assert _Runtime().hub is None  # outside any greenlet: threads
