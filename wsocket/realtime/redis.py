"""Rooms and broadcasts across processes and hosts, over Redis pub/sub.

Strategy:

- every process that serves clients has one :class:`RedisBackend` per
  events endpoint, subscribed to one channel (``channel``, ``"wsocket"``
  by default). A send is delivered to this process's own connections at
  once, then published as a small JSON envelope that carries a random
  process id; every subscribed process delivers what it receives to its own
  members and ignores its own echoes. So a client gets a message once, and
  while Redis is away a process still reaches its own clients;
- ``emit_to`` a connection of this process is never published;
- publishing never blocks a request handler: sends join a bounded queue
  that a *publisher* task drains in pipelined batches. The *subscriber*
  task reads the channel and delivers. Both reconnect on their own, with
  backoff, and while Redis is unreachable sends are counted as not
  published (``events.stats["publish_failed"]``) rather than queued: pub/sub
  is at-most-once, and a broadcast replayed a minute late is worse than one
  missed;
- under gevent without monkey-patching, every blocking Redis call runs in
  gevent's thread pool (a real OS thread) and the tasks are greenlets, so
  the hub never waits on Redis; with threads or monkey-patched gevent the
  tasks are threads (greenlets once patched);
- ``start_background_task(fn, once=True)`` runs ``fn`` in the one process
  that holds a Redis key (``SET NX PX``); the holder renews it while it
  lives, and another process takes it over once it expires.

:class:`Emitter` publishes the same envelopes from a process that serves no
clients. ``import wsocket.realtime`` never imports the ``redis`` package:
it is imported when a backend starts or an emitter is made.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import random
import secrets
import threading
import time
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    Iterable,
    List,
    Optional,
    Tuple,
    Union,
)

from .backends import Backend, Broadcast, Delivery

__all__ = ["RedisBackend", "Emitter"]

logger = logging.getLogger("wsocket.realtime.redis")

#: Version of the envelope format, the ``"v"`` of every published message.
_VERSION = 1

# Renew a once-lock we hold, take it if nobody holds it: 1 if it is ours.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
    redis.call('pexpire', KEYS[1], ARGV[2])
    return 1
elseif not holder then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
# Give a once-lock back, if it is still ours.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise ImportError(
            "the Redis backend needs the redis package: pip install 'wsocket[redis]'"
        ) from None
    return redis


def _make_client(
    url: str, factory: Optional[Callable[[], Any]], options: Dict[str, Any]
) -> Any:
    if factory is not None:
        return factory()
    redis = _import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    settings: Dict[str, Any] = {
        "socket_connect_timeout": 2.0,
        "socket_timeout": 5.0,
        # We reconnect ourselves, with backoff, and count what is lost; a
        # client that retried on its own would stall the publisher instead.
        "retry": Retry(NoBackoff(), 0),
    }
    settings.update(options)
    return redis.Redis.from_url(url, **settings)


def _envelope(origin: str, kind: str, fields: Dict[str, Any]) -> str:
    fields.update(v=_VERSION, o=origin, k=kind)
    try:
        return json.dumps(fields, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"params sent through Redis must be JSON-serialisable: {error}"
        ) from None


def _broadcast_envelope(
    origin: str,
    method: str,
    params: Any,
    room: Optional[str],
    exclude: Collection[str],
) -> str:
    if not isinstance(method, str):
        raise TypeError("the method name must be a string")
    if room is not None and not isinstance(room, str):
        raise TypeError("a room name must be a string")
    return _envelope(
        origin, "b", {"m": method, "p": params, "r": room, "x": sorted(exclude)}
    )


def _emit_envelope(origin: str, conn_id: str, method: str, params: Any) -> str:
    if not isinstance(method, str):
        raise TypeError("the method name must be a string")
    if not isinstance(conn_id, str):
        raise TypeError("a connection id must be a string")
    return _envelope(origin, "t", {"c": conn_id, "m": method, "p": params})


def _exclude_ids(exclude: Union[None, str, Iterable[Any]]) -> List[str]:
    if exclude is None:
        return []
    if isinstance(exclude, str):
        return [exclude]
    ids = getattr(exclude, "id", None)
    if isinstance(ids, str):
        return [ids]
    return [item if isinstance(item, str) else str(item.id) for item in exclude]


class _Runtime:
    """Tasks, waits and blocking calls that fit the process's concurrency.

    With threads, or with gevent monkey-patched, tasks are threads (gevent
    turns them into greenlets) and blocking calls run where they are made.
    With gevent not patched and the backend started from a greenlet (the
    server's, serving the first connection), tasks are greenlets of its hub
    and each blocking Redis call goes to the hub's thread pool, so the hub
    keeps running while Redis answers (or not).
    """

    def __init__(self) -> None:
        self.hub: Any = None
        loaded = _loaded_gevent()
        if loaded is not None:
            from gevent import monkey
            from gevent.hub import Hub

            # Started from a greenlet of an unpatched hub (a Greenlet, or a
            # raw greenlet as wsocket's server spawns): the connections are
            # that hub's, and so must the delivering tasks be.
            if not monkey.is_module_patched("socket") and isinstance(
                loaded.getcurrent().parent, Hub
            ):
                self.hub = loaded.get_hub()
        if self.hub is not None:
            import gevent.event
            import gevent.queue

            self._spawn_greenlet = gevent.spawn
            self.Event: Callable[[], Any] = gevent.event.Event
            self.Queue: Callable[[int], Any] = gevent.queue.Queue
            self.Empty: Any = gevent.queue.Empty
        else:
            self.Event = threading.Event
            self.Queue = queue.Queue
            self.Empty = queue.Empty

    def spawn(self, func: Callable[[], None], name: str) -> None:
        if self.hub is not None:
            self._spawn_greenlet(func)
        else:
            threading.Thread(target=func, name=name, daemon=True).start()

    def blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        if self.hub is not None:
            return self.hub.threadpool.apply(func, args)
        return func(*args)


def _loaded_gevent() -> Any:
    # gevent is never imported here: if the application has not imported
    # it, it is not serving on gevent.
    import sys

    return sys.modules.get("gevent")


class RedisBackend(Backend):
    """Carry broadcasts and ``emit_to`` to every process that shares a Redis.

    Use one per events endpoint, in every process (every gunicorn worker,
    every host)::

        events = app.events("/ws", backend=RedisBackend("redis://127.0.0.1:6379/0"))

    Each process delivers to its own connections only, and a message
    reaches each client once. Needs the ``redis`` package
    (``pip install 'wsocket[redis]'``); it is imported when the backend
    starts, in each process after any fork.

    Args:
        url: the Redis server: ``redis://[[user]:password@]host[:port][/db]``,
            ``rediss://`` for TLS, or ``unix://path``.
        channel: the pub/sub channel, and the prefix of the keys of
            ``once=True`` tasks. Give each events endpoint of an app its
            own; :class:`Emitter` must use the same.
        lock_expiry: seconds a ``once=True`` task's key lives without being
            renewed: how long after its process dies another takes it over.
        max_pending: most sends waiting to be published; beyond it they are
            counted as ``publish_failed`` and not published.
        reconnect_max: longest pause, in seconds, between two attempts to
            reach Redis again (the pause starts at 0.1 s and doubles).
        ping_timeout: after this many seconds without a word from Redis the
            subscriber sends a PING, and reconnects when that gets no
            answer in as long again (a frozen server, a cut link).
        client_factory: a callable that returns a connected ``redis.Redis``
            client, instead of ``url`` (for Sentinel:
            ``lambda: Sentinel([...]).master_for("mymaster")``). Called
            in each process after any fork.
        **redis_options: keyword arguments of ``redis.Redis.from_url``
            (``ssl_ca_certs``, ``socket_timeout``, ``password``...).

    Counters in ``events.stats``: ``published`` (sends handed to Redis),
    ``publish_failed`` (sends not published: Redis unreachable, or more than
    ``max_pending`` waiting), ``received`` (sends from other processes
    delivered here), ``redis_down`` (outages seen).
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "wsocket",
        lock_expiry: float = 10.0,
        max_pending: int = 10000,
        reconnect_max: float = 2.0,
        ping_timeout: float = 5.0,
        client_factory: Optional[Callable[[], Any]] = None,
        **redis_options: Any,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError("url must be a string such as 'redis://127.0.0.1:6379/0'")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"url must start with redis://, rediss:// or unix://, not {url!r}"
            )
        if not channel or not isinstance(channel, str):
            raise ValueError("channel must be a non-empty string")
        if lock_expiry <= 0:
            raise ValueError("lock_expiry must be positive")
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if reconnect_max <= 0:
            raise ValueError("reconnect_max must be positive")
        if ping_timeout <= 0:
            raise ValueError("ping_timeout must be positive")
        self.url = url
        self.channel = channel
        self.lock_expiry = lock_expiry
        self.max_pending = max_pending
        self.reconnect_max = reconnect_max
        self.ping_timeout = ping_timeout
        self._factory = client_factory
        self._options = redis_options
        self._pid = 0
        self._delivery: Optional[Delivery] = None
        self._lock = threading.Lock()
        self._reset()

    def __repr__(self) -> str:
        return f"<RedisBackend {_safe_url(self.url)} channel={self.channel!r}>"

    def _reset(self) -> None:
        self.origin = ""
        self._client: Any = None
        self._runtime: Optional[_Runtime] = None
        self._outbox: Any = None
        self._stopped: Any = None
        self._down_pub = False
        self._down_sub = False
        self._warned = False
        self._once: Dict[str, str] = {}

    # -- life cycle ---------------------------------------------------------------

    def start(self, delivery: Delivery) -> None:
        # After a fork the parent's client, sockets and tasks are not ours:
        # forget them (never close them, the parent still uses them).
        self._reset()
        self._pid = os.getpid()
        self._delivery = delivery
        self.origin = secrets.token_hex(8)
        self._client = _make_client(self.url, self._factory, self._options)
        runtime = self._runtime = _Runtime()
        self._outbox = runtime.Queue(self.max_pending)
        self._stopped = runtime.Event()
        for name in ("published", "publish_failed", "received", "redis_down"):
            delivery.count(name, 0)
        runtime.spawn(self._publish_loop, "wsocket-redis-publish")
        runtime.spawn(self._subscribe_loop, "wsocket-redis-subscribe")
        atexit.register(self._release_all, self._pid)

    def stop(self) -> None:
        if self._stopped is not None:
            self._stopped.set()
        self._release_all(self._pid)
        self._delivery = None

    # -- sending ------------------------------------------------------------------

    def broadcast(
        self,
        method: str,
        params: Any,
        room: Optional[str],
        exclude: Collection[str],
    ) -> None:
        data = _broadcast_envelope(self.origin, method, params, room, exclude)
        delivery = self._delivery
        if delivery is not None:
            delivery.deliver(method, params, room, exclude)
        self._publish(data)

    def emit_to(self, conn_id: str, method: str, params: Any) -> None:
        data = _emit_envelope(self.origin, conn_id, method, params)
        delivery = self._delivery
        if delivery is not None and delivery.deliver_to(conn_id, method, params):
            return
        self._publish(data)

    def _count(self, name: str, n: int = 1) -> None:
        delivery = self._delivery
        if delivery is not None:
            delivery.count(name, n)

    def _publish(self, data: str) -> None:
        if self._outbox is None:
            return
        if self._down_pub:
            self._count("publish_failed")
            return
        try:
            self._outbox.put_nowait(data)
        except Exception:
            # A full queue (queue.Full or gevent's): Redis is slower than
            # the sends. Drop this one rather than wait in a handler.
            self._count("publish_failed")

    def _publish_loop(self) -> None:
        runtime = self._runtime
        outbox = self._outbox
        stopped = self._stopped
        assert runtime is not None
        delay = 0.0
        while not stopped.is_set():
            if self._down_pub:
                stopped.wait(delay)
                try:
                    runtime.blocking(self._client.ping)
                except Exception as error:
                    delay = min(max(delay * 2, 0.1), self.reconnect_max)
                    self._outage(str(error))
                    continue
                self._down_pub = False
                self._recovered()
                continue
            try:
                first = outbox.get(timeout=1.0)
            except Exception:  # empty after the timeout
                continue
            batch = [first]
            while len(batch) < 500:
                try:
                    batch.append(outbox.get_nowait())
                except Exception:
                    break
            try:
                runtime.blocking(self._send_batch, batch)
            except Exception as error:
                self._down_pub = True
                delay = 0.1
                self._count("publish_failed", len(batch) + _drain(outbox))
                self._outage(str(error))
                continue
            self._count("published", len(batch))

    def _send_batch(self, batch: List[str]) -> None:
        if len(batch) == 1:
            self._client.publish(self.channel, batch[0])
            return
        pipe = self._client.pipeline(transaction=False)
        for data in batch:
            pipe.publish(self.channel, data)
        pipe.execute()

    # -- receiving ----------------------------------------------------------------

    def _subscribe_loop(self) -> None:
        runtime = self._runtime
        stopped = self._stopped
        assert runtime is not None
        delay = 0.0
        while not stopped.is_set():
            if delay:
                stopped.wait(delay + random.uniform(0, delay / 4))
            pubsub = None
            try:
                pubsub = runtime.blocking(self._subscribe)
                self._down_sub = False
                delay = 0.0
                self._recovered()
                heard = time.monotonic()
                pinged = 0.0
                while not stopped.is_set():
                    batch, alive = runtime.blocking(self._read_batch, pubsub)
                    now = time.monotonic()
                    if alive:
                        heard, pinged = now, 0.0
                    elif pinged and now - pinged > self.ping_timeout:
                        # A server that is frozen, or a link that is cut
                        # without a reset, would otherwise go unnoticed.
                        raise ConnectionError(
                            f"no answer to PING in {self.ping_timeout:g} s"
                        )
                    elif not pinged and now - heard > self.ping_timeout:
                        runtime.blocking(pubsub.ping)
                        pinged = now
                    self._received_batch(batch)
            except Exception as error:
                if stopped.is_set():
                    break
                delay = min(max(delay * 2, 0.1), self.reconnect_max)
                self._down_sub = True
                self._outage(str(error))
            finally:
                if pubsub is not None:
                    try:
                        runtime.blocking(pubsub.close)
                    except Exception:  # pragma: no cover - closing a dead socket
                        pass

    def _subscribe(self) -> Any:
        pubsub = self._client.pubsub()
        try:
            pubsub.subscribe(self.channel)
            # Wait for the confirmation, so that "subscribed" means it.
            reply = pubsub.get_message(timeout=5.0)
            if reply is None or reply.get("type") != "subscribe":
                raise ConnectionError(f"no confirmation of SUBSCRIBE: {reply!r}")
        except BaseException:
            pubsub.close()
            raise
        return pubsub

    def _read_batch(self, pubsub: Any) -> Tuple[List[bytes], bool]:
        # Up to 500 messages, waiting up to a second for the first; and
        # whether Redis said anything at all (a message, a pong).
        batch: List[bytes] = []
        alive = False
        message = pubsub.get_message(timeout=1.0)
        while message is not None:
            alive = True
            if message.get("type") == "message":
                batch.append(message["data"])
            if len(batch) >= 500:
                break
            message = pubsub.get_message(timeout=0.0)
        return batch, alive

    def _received_batch(self, batch: List[bytes]) -> None:
        """Deliver what one read from Redis brought, in order.

        Consecutive broadcasts go to :meth:`Delivery.deliver_many` together,
        so a process that fell behind writes each client its waiting events
        at once.
        """
        delivery = self._delivery
        if delivery is None:
            return
        broadcasts: List[Broadcast] = []
        for data in batch:
            envelope = self._open(data)
            if envelope is None:
                continue
            kind, method, params, message = envelope
            if kind == "b":
                broadcasts.append(
                    (method, params, message.get("r"), message.get("x", ()))
                )
                continue
            self._deliver(delivery, broadcasts)
            broadcasts = []
            if kind == "t":
                try:
                    delivery.deliver_to(message["c"], method, params)
                except Exception:
                    logger.exception("! delivering a message from Redis failed")
        self._deliver(delivery, broadcasts)

    def _deliver(self, delivery: Delivery, broadcasts: List[Broadcast]) -> None:
        if not broadcasts:
            return
        try:
            if len(broadcasts) == 1:
                delivery.deliver(*broadcasts[0])
            else:
                delivery.deliver_many(broadcasts)
        except Exception:
            logger.exception("! delivering a message from Redis failed")

    def _open(self, data: Union[bytes, str]) -> Optional[Tuple[str, str, Any, Any]]:
        """``(kind, method, params, envelope)`` of a message from another
        process; ``None`` for our own sends and for what is not ours."""
        try:
            message = json.loads(data)
            if message.get("o") == self.origin:
                return None  # our own send, delivered here already
            kind = message["k"]
            method = message["m"]
            params = message.get("p")
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning(
                "! ignored a message on Redis channel %r that is not a wsocket "
                "envelope: %.80r",
                self.channel,
                data,
            )
            return None
        self._count("received")
        return kind, method, params, message

    # -- outages ------------------------------------------------------------------

    def _outage(self, reason: str) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        self._count("redis_down")
        logger.warning(
            "! Redis at %s is unreachable (%s): sends reach this process's "
            "clients only and are not published until it is back",
            _safe_url(self.url),
            reason,
        )

    def _recovered(self) -> None:
        with self._lock:
            if not self._warned or self._down_pub or self._down_sub:
                return
            self._warned = False
        logger.info(
            "= Redis at %s is reachable again: sends are published", _safe_url(self.url)
        )

    # -- once-per-cluster tasks ---------------------------------------------------

    def run_once(self, name: str, start: Callable[[], None]) -> None:
        """Call ``start()`` in the one process that holds the key of ``name``.

        The key lives ``lock_expiry`` seconds; the holder renews it three
        times as often, and a process whose holder died takes it over
        within ``lock_expiry`` plus a quarter of it.
        """
        runtime = self._runtime
        if runtime is None:
            raise RuntimeError("the backend is not started")
        key = f"{self.channel}:once:{name}"
        token = f"{self.origin}:{os.getpid()}"

        def contend() -> None:
            ms = int(self.lock_expiry * 1000)
            holding = False
            while not self._stopped.is_set():
                try:
                    if holding:
                        ours = runtime.blocking(
                            self._client.eval, _RENEW, 1, key, token, ms
                        )
                    else:
                        ours = runtime.blocking(
                            lambda: self._client.set(key, token, nx=True, px=ms)
                        )
                except Exception:
                    ours = holding  # Redis away: keep whatever we had
                if ours and not holding:
                    holding = True
                    self._once[key] = token
                    logger.info("= this process runs the task %s", name)
                    start()
                elif holding and not ours:
                    logger.warning(
                        "! another process took the key of the task %s: this "
                        "process's copy runs on until it returns",
                        name,
                    )
                    self._once.pop(key, None)
                    holding = False
                self._stopped.wait(self.lock_expiry / (3 if holding else 4))

        runtime.spawn(contend, "wsocket-redis-once")

    def _release_all(self, pid: int) -> None:
        if pid != os.getpid() or not self._once or self._client is None:
            return
        for key, token in list(self._once.items()):
            try:
                self._client.eval(_RELEASE, 1, key, token)
            except Exception:
                pass  # Redis away: the key expires by itself
        self._once.clear()


def _drain(outbox: Any) -> int:
    dropped = 0
    while True:
        try:
            outbox.get_nowait()
        except Exception:
            return dropped
        dropped += 1


def _safe_url(url: str) -> str:
    # Never log a password.
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


class Emitter:
    """Broadcast and ``emit_to`` from a process that serves no clients.

    A worker, a cron job or a shell publishes to the clients of every
    process whose :class:`RedisBackend` shares the server and channel::

        with Emitter("redis://127.0.0.1:6379/0") as emitter:
            emitter.broadcast("news", {"title": "..."}, room="lobby")

    Sends are synchronous: when Redis is unreachable they raise the
    ``redis`` package's ``ConnectionError``.

    Args:
        url: the Redis server, as for :class:`RedisBackend`.
        channel: the channel of the backends to reach.
        client_factory: a callable that returns a ``redis.Redis`` client
            (Sentinel...), instead of ``url``.
        **redis_options: keyword arguments of ``redis.Redis.from_url``.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "wsocket",
        client_factory: Optional[Callable[[], Any]] = None,
        **redis_options: Any,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError("url must be a string such as 'redis://127.0.0.1:6379/0'")
        self.url = url
        self.channel = channel
        self._client = _make_client(url, client_factory, redis_options)

    def __repr__(self) -> str:
        return f"<Emitter {_safe_url(self.url)} channel={self.channel!r}>"

    def broadcast(
        self,
        method: str,
        params: Any = None,
        room: Optional[str] = None,
        exclude: Union[None, str, Iterable[Any]] = None,
    ) -> int:
        """Send an event to every connection, or to the members of ``room``.

        Args:
            method: the event's method.
            params: its params (JSON-serialisable).
            room: a room name, or ``None`` for every connection.
            exclude: a connection id, or several, to skip.

        Returns:
            how many processes were subscribed to receive it.
        """
        data = _broadcast_envelope("", method, params, room, _exclude_ids(exclude))
        return int(self._client.publish(self.channel, data))

    def emit_to(self, conn_id: str, method: str, params: Any = None) -> int:
        """Send an event to the connection ``conn_id``, wherever it is.

        Returns:
            how many processes were subscribed to receive it (only the one
            that holds the connection delivers it).
        """
        data = _emit_envelope("", conn_id, method, params)
        return int(self._client.publish(self.channel, data))

    def close(self) -> None:
        """Close the connection to Redis."""
        self._client.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
