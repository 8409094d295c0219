"""Events, connections and rooms: the real-time layer over WebSockets.

Theory of operation, per connection:

- the *reader* is the task that serves the WebSocket (the server's thread
  or greenlet for the session). It only reads, decodes, and sorts: replies
  to our calls (``conn.call()``) are matched at once; everything else goes,
  in arrival order, to the connection's *worker*. So a handler waiting for
  a reply never stops the reply from being read;
- the *worker* runs ordinary handlers one at a time, in arrival order, on a
  task spawned when there is work (a thread, or a greenlet under gevent).
  Handlers registered with ``concurrent=True`` are started from the worker
  on a task of their own, after the messages before them, and the worker
  moves on at once;
- sending never waits for the peer: a message goes straight to the socket
  when nothing is queued and the socket takes it at once
  (:meth:`~wsocket.connection.WebSocket.send_nowait`); otherwise it joins a
  bounded queue that a *writer* task drains. A full queue closes the
  connection with 1013 (or drops its oldest events, with
  ``overflow="drop_oldest"``), so one slow reader never holds up a
  broadcast, and never costs unbounded memory.

Locks are short: none is held while a handler runs or a socket write waits.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import threading
import time
import traceback
from collections import deque
from typing import (
    Any,
    Callable,
    Collection,
    Deque,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
)

from ..concurrency import Primitives, primitives_for
from ..connection import WebSocket
from ..exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from ..frames import encode_frame
from ..handshake import is_upgrade_request
from ..middleware import WebSocketMiddleware
from ..request import Request
from ..responses import HTTPError, error_page
from .backends import Backend, Broadcast, Delivery, MemoryBackend
from .jsonrpc import (
    INTERNAL_ERROR,
    JSONRPC,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    Call,
    Decoded,
    Format,
    Invalid,
    Reply,
    RPCError,
)

__all__ = ["Events", "Connection", "DEFAULT_MAX_QUEUE", "DEFAULT_MAX_QUEUE_BYTES"]

logger = logging.getLogger("wsocket.realtime")

F = TypeVar("F", bound=Callable[..., Any])
Message = Union[str, bytes]

#: Default bound of a connection's send queue, in messages.
DEFAULT_MAX_QUEUE = 1024
#: Default bound of a connection's send queue, in bytes.
DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024

#: Messages a connection may have waiting for its worker before the reader
#: stops reading (the peer then waits on TCP flow control).
_MAX_PENDING = 128
#: A connection whose queue is over its bounds is kept while its writer
#: made progress this recently (seconds)...
_PROGRESS_WINDOW = 2.0
#: ...and while its queue stays within this many times its bounds.
_SLACK = 8
# A writer that finds a backlog frames up to this many bytes of it and
# writes them with one system call.
_BATCH_BYTES = 65536
#: ``concurrent=True`` handlers running at once per connection; beyond it,
#: they run on the worker, in order.
_MAX_CONCURRENT = 64
#: Seconds a connection's idle worker waits for more messages before it ends.
_LINGER = 2.0

_OVERFLOW_MODES = ("close", "drop_oldest")
#: Close codes an application may send (RFC 6455 7.4.1), besides 3000-4999.
_SENDABLE = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)


class _Close:
    """A close request waiting in the send queue behind earlier messages."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class _Handler:
    __slots__ = ("func", "concurrent")

    def __init__(self, func: Callable[..., Any], concurrent: bool) -> None:
        self.func = func
        self.concurrent = concurrent


class _Pending:
    """A call to the peer waiting for its reply."""

    __slots__ = ("event", "result", "error")

    def __init__(self, event: Any) -> None:
        self.event = event
        self.result: Any = None
        self.error: Optional[BaseException] = None


class _Serial:
    """Runs jobs one at a time, in order, on a task spawned when there is work.

    The task waits :data:`_LINGER` seconds for more work before it ends, so
    that a busy connection does not start a thread per message.
    """

    def __init__(self, prim: Primitives, name: str) -> None:
        self._prim = prim
        self._name = name
        self._lock = prim.Lock()
        self._jobs: Deque[Callable[[], None]] = deque()
        self._alive = False  # a task runs (or lingers)
        self._closing = False
        self._wake = prim.Event()
        self._idle = prim.Event()  # no job waiting or running
        self._idle.set()
        self._progress = prim.Event()

    def __len__(self) -> int:
        return len(self._jobs)

    def put(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._jobs.append(job)
            self._idle.clear()
            if self._alive:
                self._wake.set()
                return
            self._alive = True
        self._prim.spawn(self._run, self._name)

    def close(self) -> None:
        """No more work will come: let the task end once idle."""
        with self._lock:
            self._closing = True
            self._wake.set()

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._jobs:
                    job: Optional[Callable[[], None]] = self._jobs.popleft()
                else:
                    job = None
                    self._idle.set()
                    if self._closing:
                        self._alive = False
                        return
                    self._wake.clear()
            if job is None:
                if not self._wake.wait(_LINGER):
                    with self._lock:
                        if not self._jobs:
                            self._alive = False
                            return
                continue
            try:
                job()
            except BaseException:  # a job catches its own errors; never lose the loop
                logger.exception("unexpected error in the real-time worker")
            self._progress.set()

    def wait_room(self, limit: int, unless: Callable[[], bool]) -> None:
        """Wait while ``limit`` jobs or more are waiting, and ``unless()`` is false."""
        while len(self._jobs) >= limit and not unless():
            self._progress.clear()
            if len(self._jobs) < limit:
                return
            self._progress.wait(0.1)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        return bool(self._idle.wait(timeout))


class Connection:
    """One client connected to an :class:`Events` endpoint.

    Handlers get it as their first argument. Every method may be called from
    any thread or greenlet.

    Attributes:
        id: a random, URL-safe id (128 bits), unique across processes and
            hosts; a client that reconnects gets a new one.
        state: a dict for the application (the user, a nickname...).
        request: the :class:`~wsocket.request.Request` of the handshake, with
            its cookies, headers and query (the one the
            :meth:`Events.authorize` hooks saw).
        websocket: the underlying :class:`~wsocket.connection.WebSocket`.
    """

    def __init__(self, events: Events, websocket: WebSocket, request: Request) -> None:
        self.id = secrets.token_urlsafe(16)
        self.state: Dict[str, Any] = {}
        self.request = request
        self.websocket = websocket
        self._events = events
        prim = primitives_for(websocket.sock)
        self._prim = prim
        self._rooms: Set[str] = set()
        self._lock = prim.Lock()
        # (message, size, droppable, shared frame or None); a _Close last.
        self._queue: Deque[Tuple[Any, int, bool, Optional[bytes]]] = deque()
        self._queued_bytes = 0
        self._writing = False
        self._progress = time.monotonic()  # when the writer last got a message out
        self._watching = False  # a task checks the progress of a full queue
        self._closed = False  # nothing more is accepted for sending
        self._close_error: Optional[ConnectionClosed] = None
        self._done = prim.Event()  # the session is over
        self._pending: Dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._worker = _Serial(prim, "wsocket-events")
        self._concurrent = 0
        self._tasks: List[Any] = []

    def __repr__(self) -> str:
        return f"<Connection {self.id}>"

    # -- state -------------------------------------------------------------------

    @property
    def rooms(self) -> FrozenSet[str]:
        """The rooms this connection is in."""
        with self._events._lock:
            return frozenset(self._rooms)

    @property
    def closed(self) -> bool:
        """True once the connection is closing or closed (sends then fail)."""
        return self._closed

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Wait until the session is over; return False if ``timeout`` passed.

        Handy in a push loop: ``while not conn.wait_closed(1.0): conn.emit(...)``.
        """
        return bool(self._done.wait(timeout))

    # -- sending -----------------------------------------------------------------

    def emit(self, method: str, params: Any = None) -> None:
        """Send an event (a notification) to this client.

        Raises:
            ConnectionClosed: if the connection is closed (after a queue
                overflow too, with code 1013).
        """
        message = self._events.format.encode_event(method, params)
        if message is not None and self._send(message, True):
            self._events._count("sent")

    def call(self, method: str, params: Any = None, timeout: float = 10.0) -> Any:
        """Call ``method`` on the client and return its result.

        The reply is read while you wait, so calling from inside a handler
        is fine.

        Raises:
            RPCError: the client answered with an error.
            TimeoutError: no reply within ``timeout`` seconds.
            ConnectionClosed: the connection closed before the reply.
        """
        call_id = next(self._ids)
        pending = _Pending(self._prim.Event())
        with self._lock:
            if self._closed:
                raise self._closed_error()
            self._pending[call_id] = pending
        try:
            message = self._events.format.encode_call(call_id, method, params)
            if message is None:
                raise RuntimeError(
                    f"the {type(self._events.format).__name__} format cannot "
                    "send calls to the client"
                )
            if self._send(message, False):
                self._events._count("sent")
            if not pending.event.wait(timeout):
                raise TimeoutError(
                    f"no reply to {method!r} from the client within {timeout}s"
                )
        finally:
            with self._lock:
                self._pending.pop(call_id, None)
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _resolve(self, reply: Reply) -> None:
        """The reader matched a reply to one of our calls."""
        with self._lock:
            pending = self._pending.pop(reply.id, None) if _hashable(reply.id) else None
        if pending is None:
            logger.debug("reply to an unknown call id %r: ignored", reply.id)
            return
        pending.result = reply.result
        pending.error = reply.error
        pending.event.set()

    def _closed_error(self) -> ConnectionClosed:
        if self._close_error is not None:
            return self._close_error
        ws = self.websocket
        if ws.close_code is None:
            return ConnectionClosedError(1006, "connection closing")
        return ws.protocol.close_exc()

    def _send(
        self, message: Message, droppable: bool, frame: Optional[bytes] = None
    ) -> bool:
        """Send now if possible, else queue; never waits for the peer.

        ``frame`` is ``message`` framed once for a broadcast. Returns True
        when the message went out now; the caller counts it as sent (a
        queued one is counted by the writer).
        """
        events = self._events
        size = len(message)
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if not self._queue and not self._writing:
                ws = self.websocket
                try:
                    sent = ws._send_nowait(message, isinstance(message, bytes), frame)
                except ConnectionClosed:
                    self._closed = True
                    raise
                if sent:
                    self._progress = time.monotonic()
                    return True
            queue = self._queue
            if (
                len(queue) >= events.max_queue
                or self._queued_bytes + size > events.max_queue_bytes
            ):
                if events.overflow != "drop_oldest":
                    if not self._keep_over_bounds(size):
                        self._overflow()
                        raise self._closed_error()
                elif droppable and size > events.max_queue_bytes:
                    events._count("dropped")  # could never fit
                    return False
                elif not self._drop_oldest(size):
                    self._overflow()  # replies and calls alone fill it
                    raise self._closed_error()
                queue = self._queue
            queue.append((message, size, droppable, frame))
            self._queued_bytes += size
            if self._writing:
                return False
            self._writing = True
        self._prim.spawn(self._write_loop, "wsocket-writer")
        return False

    def _send_many(self, messages: List[Tuple[Message, bytes]]) -> int:
        """Send several broadcast events, with one write if nothing waits.

        Each item is ``(message, frame)``. Returns how many went out now;
        the others are queued, as :meth:`_send` queues.
        """
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if not self._queue and not self._writing:
                items = [(m, isinstance(m, bytes), f) for m, f in messages]
                try:
                    sent = self.websocket._send_all_nowait(items)
                except ConnectionClosed:
                    self._closed = True
                    raise
                if sent:
                    self._progress = time.monotonic()
                    return len(messages)
        count = 0
        for message, frame in messages:
            if self._send(message, True, frame):
                count += 1
        return count

    def _keep_over_bounds(self, size: int) -> bool:
        """Whether a full queue may take one more message: the client reads.

        A client that reads but is behind (a burst bigger than the socket
        buffers) keeps its writer making progress; one that never reads
        stops it. While the writer got a message out within
        ``_PROGRESS_WINDOW`` seconds, the queue may grow to ``_SLACK`` times
        its bounds; a task then checks that progress goes on, and closes
        the connection with 1013 when it stops. The caller holds the lock.
        """
        events = self._events
        if not self._writing or (
            time.monotonic() - self._progress > _PROGRESS_WINDOW
            or len(self._queue) >= _SLACK * events.max_queue
            or self._queued_bytes + size > _SLACK * events.max_queue_bytes
        ):
            return False
        if not self._watching:
            self._watching = True
            self._prim.spawn(self._watch_progress, "wsocket-progress")
        return True

    def _watch_progress(self) -> None:
        """Close a connection over its bounds whose writer stopped."""
        events = self._events
        pause = self._prim.Event()
        while True:
            pause.wait(_PROGRESS_WINDOW)
            with self._lock:
                if self._closed:
                    self._watching = False
                    return
                if (
                    len(self._queue) <= events.max_queue
                    and self._queued_bytes <= events.max_queue_bytes
                ):
                    self._watching = False
                    return
                if time.monotonic() - self._progress > _PROGRESS_WINDOW:
                    self._watching = False
                    self._overflow()
                    return

    def _drop_oldest(self, size: int) -> bool:
        """Drop queued events, oldest first, until ``size`` more bytes fit.

        Replies and calls are never dropped. Returns False when they alone
        fill the queue. The caller holds the lock.
        """
        events = self._events
        limit_n, limit_bytes = events.max_queue, events.max_queue_bytes
        size = min(size, limit_bytes)
        queue = self._queue
        kept: Deque[Tuple[Any, int, bool, Optional[bytes]]] = deque()
        dropped = 0
        while queue and (
            len(queue) + len(kept) >= limit_n or self._queued_bytes + size > limit_bytes
        ):
            entry = queue.popleft()
            if entry[2]:
                self._queued_bytes -= entry[1]
                dropped += 1
            else:
                kept.append(entry)
        kept.extend(queue)
        self._queue = kept
        if dropped:
            events._count("dropped", dropped)
        return len(kept) < limit_n and self._queued_bytes + size <= limit_bytes

    def _overflow(self) -> None:
        """The queue is full: close with 1013. The caller holds the lock."""
        events = self._events
        events._count("overflow_closed")
        logger.info(
            "closing connection %s: its send queue is full (%d messages, %d bytes)",
            self.id,
            len(self._queue),
            self._queued_bytes,
        )
        self._queue.clear()
        self._queued_bytes = 0
        self._close_error = ConnectionClosedError(1013, "send queue overflow")
        self._start_close_locked(1013, "send queue overflow")

    def _start_close_locked(self, code: int, reason: str) -> None:
        """Queue a Close behind what is queued; abort after close_timeout."""
        self._closed = True
        self._queue.append((_Close(code, reason), 0, False, None))
        if not self._writing:
            self._writing = True
            self._prim.spawn(self._write_loop, "wsocket-writer")
        self._prim.spawn(self._watch_close, "wsocket-close")

    def _watch_close(self) -> None:
        # The peer may never read (the Close stays behind a frame it does not
        # take) or never answer: drop TCP after close_timeout.
        if not self._done.wait(self.websocket.close_timeout):
            logger.info("connection %s did not close in time: aborting", self.id)
            self.websocket.abort()

    def _write_loop(self) -> None:
        """Write the queue out; a backlog goes in batches, one write each.

        A client that fell behind has several messages waiting: they are
        framed together and written with one system call instead of one
        per message (up to ``_BATCH_BYTES`` at a time).
        """
        ws = self.websocket
        events = self._events
        while True:
            with self._lock:
                queue = self._queue
                if not queue:
                    self._writing = False
                    return
                head = queue.popleft()
                batch = [head]
                total = head[1]
                while queue and total < _BATCH_BYTES:
                    entry = queue[0]
                    if isinstance(entry[0], _Close) or isinstance(head[0], _Close):
                        break
                    batch.append(queue.popleft())
                    total += entry[1]
                self._queued_bytes -= total
            try:
                if isinstance(head[0], _Close):
                    ws.start_close(head[0].code, head[0].reason)
                    continue
                ws._send_batch([(entry[0], entry[3]) for entry in batch])
            except ConnectionClosed:
                with self._lock:
                    self._closed = True
                    self._queue.clear()
                    self._queued_bytes = 0
                    self._writing = False
                return
            except Exception:
                logger.exception("error writing to connection %s", self.id)
                continue
            self._progress = time.monotonic()
            events._count("sent", len(batch))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection after the messages already queued.

        Returns at once; the closing handshake completes in the background,
        and the TCP connection is dropped if it did not within the
        WebSocket's ``close_timeout``. Calling it again does nothing.

        Raises:
            ValueError: if ``code`` may not be sent or ``reason`` is too long.
        """
        if not (code in _SENDABLE or 3000 <= code <= 4999):
            raise ValueError(
                f"close code {code} cannot be sent: use 1000-1003, 1007-1014 "
                "or an application code 3000-4999"
            )
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("the close reason must fit in 123 bytes of UTF-8")
        with self._lock:
            if self._closed:
                return
            cls = ConnectionClosedOK if code in (1000, 1001) else ConnectionClosedError
            self._close_error = cls(code, reason)
            self._start_close_locked(code, reason)

    # -- rooms -------------------------------------------------------------------

    def join(self, room: str) -> None:
        """Join ``room``: :meth:`Events.broadcast` to it reaches this connection."""
        self._events._join(self, room)

    def leave(self, room: str) -> None:
        """Leave ``room`` (nothing happens if not in it)."""
        self._events._leave(self, room)

    # -- tasks -------------------------------------------------------------------

    def start_task(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in the background for the life of this connection.

        A task ends when it returns, or with :class:`~wsocket.ConnectionClosed` (at
        its first send after the connection closed; it is not logged).
        Under gevent the task is also killed when the connection closes;
        with threads, loop on :meth:`wait_closed` to stop promptly.
        """
        _start(self._prim, fn, args, self._tasks)

    # -- end of session ----------------------------------------------------------

    def _finished(self) -> None:
        """The session is over: fail what waits, stop what runs."""
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._queued_bytes = 0
            pending = list(self._pending.values())
            self._pending.clear()
        error = self._closed_error()
        for waiting in pending:
            waiting.error = error
            waiting.event.set()
        self._done.set()
        for task in self._tasks:
            kill = getattr(task, "kill", None)
            if kill is not None:
                kill(block=False)


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float)) or value is None


def _start(
    prim: Primitives,
    fn: Callable[..., Any],
    args: Tuple[Any, ...],
    handles: Optional[List[Any]] = None,
) -> None:
    def run() -> None:
        try:
            fn(*args)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("error in background task %r", fn)

    if prim.name == "gevent" and handles is not None:
        import gevent

        handles.append(gevent.spawn(run))
    else:
        prim.spawn(run, f"wsocket-task-{getattr(fn, '__name__', 'task')}")


class Events(Delivery):
    """An endpoint that speaks events and calls (JSON-RPC 2.0 by default).

    Get one from :meth:`wsocket.WSocketApp.events`, or build one and use it
    as a WSGI application (it answers the WebSocket handshake itself), or
    call :meth:`serve` with a WebSocket you already have.

    Args:
        format: the wire format (:class:`~wsocket.realtime.jsonrpc.JSONRPC`
            by default, with ``max_depth`` and ``max_batch``).
        backend: where room and connection-id sends go
            (:class:`~wsocket.realtime.MemoryBackend` by default).
        max_queue: most messages waiting to be sent to one connection.
        max_queue_bytes: most bytes waiting to be sent to one connection.
        overflow: what a full queue does: ``"close"`` closes the connection
            with 1013; ``"drop_oldest"`` drops its oldest queued events (never
            a reply or a call) to make room.
        debug: send tracebacks to clients in -32603 errors. Never in
            production.
        max_depth: deepest JSON nesting accepted (JSON-RPC format).
        max_batch: most calls in one JSON-RPC batch.
        **websocket_options: options of
            :class:`~wsocket.middleware.WebSocketMiddleware`
            (``max_message_size``, ``ping_interval``, ``close_timeout``...),
            used when the object serves as a WSGI application.

    Attributes:
        stats: counters: ``sent`` (messages written), ``dropped`` (events
            dropped by ``drop_oldest``), ``overflow_closed`` (connections
            closed because their queue was full), and the backend's own
            (:class:`~wsocket.realtime.RedisBackend`: ``published``,
            ``publish_failed``, ``received``, ``redis_down``).
    """

    def __init__(
        self,
        *,
        format: Optional[Format] = None,
        backend: Optional[Backend] = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        overflow: str = "close",
        debug: bool = False,
        max_depth: int = 32,
        max_batch: int = 100,
        **websocket_options: Any,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if max_queue_bytes < 1:
            raise ValueError("max_queue_bytes must be at least 1")
        if overflow not in _OVERFLOW_MODES:
            raise ValueError(
                f"overflow must be 'close' or 'drop_oldest', not {overflow!r}"
            )
        self.format: Format = (
            format if format is not None else JSONRPC(max_depth, max_batch)
        )
        self.backend: Backend = backend if backend is not None else MemoryBackend()
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.overflow = overflow
        self.debug = debug
        self.stats: Dict[str, int] = {"sent": 0, "dropped": 0, "overflow_closed": 0}
        self._handlers: Dict[str, _Handler] = {}
        self._on_connect: List[Callable[[Connection], Any]] = []
        self._on_disconnect: List[Callable[[Connection], Any]] = []
        self._authorize: List[Callable[[Request], Any]] = []
        self._before: List[Callable[[Connection, str, Any], Any]] = []
        self._lock = threading.Lock()
        self._conns: Dict[str, Connection] = {}
        self._rooms: Dict[str, Set[str]] = {}
        self._tasks: List[
            Tuple[Callable[..., Any], Tuple[Any, ...], Optional[str]]
        ] = []
        self._pid = 0
        self._prim: Optional[Primitives] = None
        self._middleware = WebSocketMiddleware(self._session, **websocket_options)

    def __repr__(self) -> str:
        return f"<Events {len(self._handlers)} methods, {len(self._conns)} connections>"

    # -- registration ------------------------------------------------------------

    def on(self, method: str, *, concurrent: bool = False) -> Callable[[F], F]:
        """Register the decorated function as the handler of ``method``.

        It is called as ``handler(conn, params)``, with ``params`` exactly as
        the client sent them (a dict, a list, or ``None``). For a call, its
        return value is the result; raise :class:`RPCError` to answer with an
        error. For an event, its return value is ignored.

        Args:
            method: the method name.
            concurrent: run on a task of its own, so that a slow handler
                does not hold up the messages after it (it is then not
                ordered against them).
        """
        if not isinstance(method, str):
            raise TypeError("the method name must be a string")

        def decorator(func: F) -> F:
            if not callable(func):
                raise TypeError(f"the handler of {method!r} must be callable")
            self._handlers[method] = _Handler(func, concurrent)
            return func

        return decorator

    def on_connect(self, func: F) -> F:
        """Register ``func(conn)``, called when a client connects.

        It runs before any message of the client is handled; it may close the
        connection (``conn.close(4001, "...")``).
        """
        self._on_connect.append(func)
        return func

    def on_disconnect(self, func: F) -> F:
        """Register ``func(conn)``, called once the client is gone.

        The connection has left its rooms' delivery lists already;
        ``conn.rooms`` still says which they were.
        """
        self._on_disconnect.append(func)
        return func

    def authorize(self, func: F) -> F:
        """Register ``func(request)``, called before the handshake is answered.

        It refuses the client by returning ``False`` (403), a status
        (``401``, ``403``...), or an :class:`~wsocket.responses.HTTPError`,
        or by raising one (``raise HTTPError(401, headers={"WWW-Authenticate":
        "Bearer"})``). Anything else accepts. The request becomes
        ``conn.request``, so what it learns can be kept in
        ``request.environ``.
        """
        self._authorize.append(func)
        return func

    def before(self, func: F) -> F:
        """Register ``func(conn, method, params)``, called before every handler.

        Raising :class:`RPCError` refuses the call (the client gets the error)
        or the event (dropped). For per-method or per-room permissions and
        rate limits.
        """
        self._before.append(func)
        return func

    # -- sending -----------------------------------------------------------------

    @property
    def connections(self) -> Dict[str, Connection]:
        """The open connections of this process, by id (a copy)."""
        with self._lock:
            return dict(self._conns)

    def broadcast(
        self,
        method: str,
        params: Any = None,
        room: Optional[str] = None,
        exclude: Union[None, str, Connection, Iterable[Union[str, Connection]]] = None,
    ) -> None:
        """Send an event to every connection, or to the members of ``room``.

        Never waits for a slow client (see ``max_queue``).

        Args:
            method: the event's method.
            params: its params.
            room: a room name, or ``None`` for every connection.
            exclude: a connection (or its id), or several, to skip: usually
                the sender.
        """
        self._start_backend()
        self.backend.broadcast(method, params, room, _ids(exclude))

    def emit_to(self, conn_id: str, method: str, params: Any = None) -> None:
        """Send an event to the connection with id ``conn_id``, wherever it is.

        An id that is not connected is ignored.
        """
        self._start_backend()
        self.backend.emit_to(conn_id, method, params)

    def deliver(
        self,
        method: str,
        params: Any,
        room: Optional[str],
        exclude: Collection[str],
    ) -> int:
        with self._lock:
            if room is None:
                targets = list(self._conns.values())
            else:
                members = self._rooms.get(room, ())
                conns = self._conns
                targets = [conns[i] for i in members if i in conns]
        message: Optional[Message] = None
        frame = b""
        count = sent_now = 0
        for conn in targets:
            if conn.id in exclude or conn._closed:
                continue
            if message is None:
                message = self.format.encode_event(method, params)
                if message is None:
                    return 0
                frame = encode_frame(message)  # once for every connection
            try:
                if conn._send(message, True, frame):
                    sent_now += 1
            except ConnectionClosed:
                continue
            count += 1
        if sent_now:
            self._count("sent", sent_now)
        self._yield_to_writers(count)
        return count

    def _yield_to_writers(self, count: int) -> None:
        prim = self._prim
        if prim is not None and prim.name == "gevent" and count > 1:
            # A loop of broadcasts never blocks, so under gevent it would
            # never let the writers drain the queues it fills: yield once.
            import gevent

            gevent.sleep(0)

    def deliver_many(self, broadcasts: Sequence[Broadcast]) -> int:
        # Each connection gets the events of the whole batch meant for it,
        # in order, with one write.
        with self._lock:
            conns = self._conns
            rooms = self._rooms
            chosen = [
                list(conns.values())
                if room is None
                else [conns[i] for i in rooms.get(room, ()) if i in conns]
                for _, _, room, _ in broadcasts
            ]
        plan: Dict[Connection, List[Tuple[Message, bytes]]] = {}
        for (method, params, _, exclude), targets in zip(broadcasts, chosen):
            item: Optional[Tuple[Message, bytes]] = None
            for conn in targets:
                if conn.id in exclude or conn._closed:
                    continue
                if item is None:
                    message = self.format.encode_event(method, params)
                    if message is None:
                        break
                    item = (message, encode_frame(message))
                plan.setdefault(conn, []).append(item)
        count = sent_now = 0
        for conn, items in plan.items():
            try:
                sent_now += conn._send_many(items)
            except ConnectionClosed:
                continue
            count += len(items)
        if sent_now:
            self._count("sent", sent_now)
        self._yield_to_writers(len(plan))
        return count

    def deliver_to(self, conn_id: str, method: str, params: Any) -> bool:
        conn = self._conns.get(conn_id)
        if conn is None:
            return False
        try:
            conn.emit(method, params)
        except ConnectionClosed:
            return False
        return True

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.stats[name] += n

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.stats[name] = self.stats.get(name, 0) + n

    # -- rooms -------------------------------------------------------------------

    def _join(self, conn: Connection, room: str) -> None:
        if not isinstance(room, str):
            raise TypeError("a room name must be a string")
        with self._lock:
            if room in conn._rooms:
                return
            conn._rooms.add(room)
            if conn.id in self._conns:
                self._rooms.setdefault(room, set()).add(conn.id)
        self.backend.joined(conn.id, room)

    def _leave(self, conn: Connection, room: str) -> None:
        with self._lock:
            if room not in conn._rooms:
                return
            conn._rooms.discard(room)
            self._forget_member(conn.id, room)
        self.backend.left(conn.id, room)

    def _forget_member(self, conn_id: str, room: str) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.discard(conn_id)
            if not members:
                del self._rooms[room]

    # -- background tasks --------------------------------------------------------

    def start_background_task(
        self, fn: Callable[..., Any], *args: Any, once: bool = False
    ) -> None:
        """Run ``fn(*args)`` in the background, once per process.

        It may be called at import time: the task then starts when serving
        starts (with the first connection), in each worker process after
        any fork. Called while serving, it starts at once. Under gevent the
        task is a greenlet, else a daemon thread; it ends when ``fn``
        returns.

        Args:
            fn: the task.
            *args: its arguments.
            once: run it in one process only of all that share the backend
                (with :class:`~wsocket.realtime.RedisBackend`: one process
                of the cluster, and another when that one dies; with the
                in-process backend this changes nothing). The processes
                tell the task by ``fn``'s module and qualified name.
        """
        name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', fn)}"
        with self._lock:
            self._tasks.append((fn, args, name if once else None))
            running = self._pid == os.getpid() and self._prim is not None
            prim = self._prim
        if running and prim is not None:
            self._launch(prim, fn, args, name if once else None)

    def _launch(
        self,
        prim: Primitives,
        fn: Callable[..., Any],
        args: Tuple[Any, ...],
        once: Optional[str],
    ) -> None:
        if once is None:
            _start(prim, fn, args)
        else:
            self.backend.run_once(once, lambda: _start(prim, fn, args))

    def _start_backend(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._prim = None
        self.backend.start(self)

    def _start_serving(self, prim: Primitives) -> None:
        self._start_backend()
        with self._lock:
            if self._prim is not None:
                return
            self._prim = prim
            tasks = list(self._tasks)
        for fn, args, once in tasks:
            self._launch(prim, fn, args, once)

    # -- serving -----------------------------------------------------------------

    def __call__(
        self, environ: Dict[str, Any], start_response: Callable[..., Any], **params: Any
    ) -> Iterable[bytes]:
        """Serve a request as a WSGI application.

        A WebSocket handshake is checked by the :meth:`authorize` hooks and
        answered; any other request gets ``426 Upgrade Required``.
        """
        ws = environ.get("wsgi.websocket")
        if ws is not None:
            # Already upgraded by a middleware outside: refusing now can only
            # be a close.
            request = Request(environ)
            refusal = self._refusal(request)
            if refusal is not None:
                ws.close(1008, refusal.status[:123])
                return []
            self.serve(ws, request)
            return []
        if not is_upgrade_request(environ):
            error = HTTPError(
                426,
                error_page(426, "This URL only accepts WebSocket connections."),
                [("Upgrade", "websocket")],
            )
            return error(environ, start_response)
        request = Request(environ)
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal(environ, start_response)
        environ["wsocket.realtime.request"] = request
        return self._middleware(environ, start_response)

    def _refusal(self, request: Request) -> Optional[HTTPError]:
        for hook in self._authorize:
            try:
                verdict = hook(request)
            except HTTPError as error:
                return error
            if verdict is False:
                return HTTPError(403, error_page(403, "Not allowed here."))
            if isinstance(verdict, HTTPError):
                return verdict
            if isinstance(verdict, int) and not isinstance(verdict, bool):
                return HTTPError(verdict)
        return None

    def _session(
        self, environ: Dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        self.serve(environ["wsgi.websocket"], environ.get("wsocket.realtime.request"))
        return []

    def serve(self, websocket: WebSocket, request: Optional[Request] = None) -> None:
        """Run an events session on an open WebSocket; return when it is over.

        This is what the WSGI entry point calls after the handshake; call it
        yourself from any WebSocket handler (``@app.websocket`` routes, raw
        middleware apps). The :meth:`authorize` hooks are not called here.

        Args:
            websocket: the open connection.
            request: the handshake request; built from the WebSocket's
                environ when ``None``.
        """
        if request is None:
            request = Request(websocket.environ)
        conn = Connection(self, websocket, request)
        self._start_serving(conn._prim)
        with self._lock:
            self._conns[conn.id] = conn
        self.backend.connected(conn.id)
        worker = conn._worker
        worker.put(lambda: self._lifecycle(self._on_connect, conn))
        try:
            while True:
                message = websocket.receive()
                if message is None:
                    break
                self._received(conn, message)
                if len(worker) >= _MAX_PENDING:
                    # Stop reading until the worker catches up, except while
                    # a handler waits for a reply to a call: it must be read.
                    worker.wait_room(_MAX_PENDING, lambda: bool(conn._pending))
        finally:
            with self._lock:
                self._conns.pop(conn.id, None)
                for room in conn._rooms:
                    self._forget_member(conn.id, room)
            conn._finished()
            self.backend.disconnected(conn.id)
            worker.put(lambda: self._lifecycle(self._on_disconnect, conn))
            worker.close()
            worker.wait_idle()

    def _received(self, conn: Connection, message: Message) -> None:
        try:
            decoded = self.format.decode(message)
        except Exception:
            logger.exception("the %s format failed to decode a message", self.format)
            decoded = Decoded([Invalid(RPCError(PARSE_ERROR))])
        items: List[Union[Call, Invalid]] = []
        for item in decoded.items:
            if isinstance(item, Reply):
                conn._resolve(item)
            else:
                items.append(item)
        if items:
            batch = decoded.batch
            conn._worker.put(lambda: self._handle(conn, items, batch))

    def _lifecycle(
        self, hooks: List[Callable[[Connection], Any]], conn: Connection
    ) -> None:
        for hook in hooks:
            try:
                hook(conn)
            except ConnectionClosed:
                pass
            except Exception:
                logger.exception("error in %r for connection %s", hook, conn.id)

    def _handle(
        self, conn: Connection, items: List[Union[Call, Invalid]], batch: bool
    ) -> None:
        replies: List[Reply] = []
        for item in items:
            if isinstance(item, Invalid):
                replies.append(Reply(item.id, error=item.error))
                continue
            reply = self._dispatch(conn, item, not batch)
            if reply is not None:
                replies.append(reply)
        if replies:
            self._send_replies(conn, replies, batch)

    def _dispatch(
        self, conn: Connection, call: Call, may_spawn: bool
    ) -> Optional[Reply]:
        try:
            for hook in self._before:
                hook(conn, call.method, call.params)
            handler = self._handlers.get(call.method)
            if handler is None:
                raise RPCError(METHOD_NOT_FOUND, f"Method not found: {call.method}")
        except RPCError as error:
            if call.is_event:
                logger.debug("event %r refused: %s", call.method, error)
                return None
            return Reply(call.id, error=error, method=call.method)
        except ConnectionClosed:
            return None
        except Exception as exc:
            return self._internal_error(conn, call, exc)
        if handler.concurrent and may_spawn:
            with conn._lock:
                spawn = conn._concurrent < _MAX_CONCURRENT
                if spawn:
                    conn._concurrent += 1
            if spawn:
                conn._prim.spawn(
                    lambda: self._run_concurrent(conn, call, handler), "wsocket-call"
                )
                return None
        return self._invoke(conn, call, handler)

    def _run_concurrent(self, conn: Connection, call: Call, handler: _Handler) -> None:
        try:
            reply = self._invoke(conn, call, handler)
            if reply is not None:
                self._send_replies(conn, [reply], False)
        finally:
            with conn._lock:
                conn._concurrent -= 1

    def _invoke(
        self, conn: Connection, call: Call, handler: _Handler
    ) -> Optional[Reply]:
        try:
            result = handler.func(conn, call.params)
        except RPCError as error:
            if call.is_event:
                return None
            return Reply(call.id, error=error, method=call.method)
        except ConnectionClosed:
            return None
        except Exception as exc:
            return self._internal_error(conn, call, exc)
        if call.is_event:
            return None
        return Reply(call.id, result, method=call.method)

    def _internal_error(
        self, conn: Connection, call: Call, exc: BaseException
    ) -> Optional[Reply]:
        logger.error(
            "error in the handler of %r (connection %s)",
            call.method,
            conn.id,
            exc_info=exc,
        )
        if call.is_event:
            return None
        data = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        error = RPCError(INTERNAL_ERROR, "Internal error", data if self.debug else None)
        return Reply(call.id, error=error, method=call.method)

    def _send_replies(
        self, conn: Connection, replies: List[Reply], batch: bool
    ) -> None:
        try:
            messages = self.format.encode_replies(replies, batch)
        except Exception:
            # A result the format cannot encode: answer that one with -32603.
            checked = []
            for reply in replies:
                try:
                    self.format.encode_replies([reply], False)
                except Exception:
                    logger.exception(
                        "cannot encode the result of %r for connection %s",
                        reply.method,
                        conn.id,
                    )
                    reply = Reply(
                        reply.id,
                        error=RPCError(INTERNAL_ERROR, "Internal error"),
                        method=reply.method,
                    )
                checked.append(reply)
            messages = self.format.encode_replies(checked, batch)
        for message in messages:
            try:
                if conn._send(message, False):
                    self._count("sent")
            except ConnectionClosed:
                return


def _ids(
    exclude: Union[None, str, Connection, Iterable[Union[str, Connection]]],
) -> Collection[str]:
    if exclude is None:
        return ()
    if isinstance(exclude, str):
        return (exclude,)
    if isinstance(exclude, Connection):
        return (exclude.id,)
    return {item.id if isinstance(item, Connection) else item for item in exclude}
