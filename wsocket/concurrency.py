"""Locks, events, background tasks and readiness waits that match a socket.

A :class:`~wsocket.connection.WebSocket` is written against blocking sockets.
On a plain socket it uses :mod:`threading`; on a gevent socket (gevent's
servers hand those out, monkey-patched or not) it must use gevent's own
primitives, or a lock held by one greenlet would block the whole hub.
:func:`primitives_for` picks the right set for a socket.
"""

from __future__ import annotations

import select
import socket
import threading
from collections import deque
from typing import Any, Callable, Deque, Optional

__all__ = [
    "Primitives",
    "primitives_for",
    "is_gevent_socket",
    "is_eventlet_socket",
    "write_all",
]


def is_gevent_socket(sock: Any) -> bool:
    """Tell whether ``sock`` is a gevent cooperative socket."""
    return type(sock).__module__.startswith("gevent")


def is_eventlet_socket(sock: Any) -> bool:
    """Tell whether ``sock`` is an eventlet green socket."""
    return type(sock).__module__.startswith("eventlet")


def write_all(sock: Any, data: bytes) -> None:
    """Write all of ``data`` to a blocking (or cooperative) socket.

    One ``send()`` takes the whole of most writes; ``sendall()`` finishes
    the rare rest. Calling ``sendall()`` alone costs more under gevent,
    which asks the kernel for the socket's buffer size on every call.

    Raises:
        OSError: if the connection is broken (or the socket timed out).
    """
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


class Primitives:
    """Concurrency building blocks for one kind of socket.

    Attributes:
        name: ``"threading"`` or ``"gevent"``.
        Lock: a factory of locks with ``acquire(blocking=True, timeout=-1)``.
        Event: a factory of events with ``set()``, ``is_set()``, ``wait(timeout)``.
    """

    name = "threading"
    Lock: Callable[[], Any] = threading.Lock
    Event: Callable[[], Any] = threading.Event

    def spawn(self, func: Callable[[], None], name: str = "wsocket") -> None:
        """Run ``func`` in the background (a daemon thread)."""
        threading.Thread(target=func, name=name, daemon=True).start()

    def wait_readable(self, sock: Any, timeout: Optional[float]) -> bool:
        """Wait until ``sock`` has data (or EOF) to read; False on timeout."""
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():
            return True  # TLS records already decrypted and buffered
        poller = select.poll()
        poller.register(
            sock, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
        )
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(poller.poll(ms))

    def wait_writable(self, sock: Any, timeout: Optional[float]) -> bool:
        """Wait until ``sock`` can take data (or failed); False on timeout."""
        poller = select.poll()
        poller.register(sock, select.POLLOUT | select.POLLHUP | select.POLLERR)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(poller.poll(ms))


class _GreenLock:
    """A lock for the greenlets of one gevent hub, cheap when it is free.

    gevent's ``Semaphore`` checks which thread and hub it belongs to on
    every call, so that it may be shared between threads; a WebSocket on a
    gevent socket is only ever used from its hub's thread (gevent's socket
    itself allows no other), and most of its acquisitions find the lock
    free. Taking a free lock here is one attribute test; a greenlet that
    finds it taken waits on a gevent ``Event``, and ``release()`` hands the
    lock to the longest waiting one (first come, first served).
    """

    __slots__ = ("_locked", "_waiters")

    _Event: Any = None  # gevent.event.Event, set by _GeventPrimitives

    def __init__(self) -> None:
        self._locked = False
        self._waiters: Optional[Deque[Any]] = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; ``False`` if not taken within ``timeout`` seconds."""
        if not self._locked:
            self._locked = True
            return True
        if not blocking:
            return False
        waiter = self._Event()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = deque()
        waiters.append(waiter)
        try:
            waiter.wait(None if timeout is None or timeout < 0 else timeout)
        except BaseException:
            # Killed while waiting: pass on a lock handed over meanwhile.
            if waiter.is_set():
                self.release()
            else:
                waiters.remove(waiter)
            raise
        if waiter.is_set():
            return True  # release() handed the lock over: it stayed locked
        waiters.remove(waiter)
        return False

    def release(self) -> None:
        """Free the lock, or hand it to the greenlet waiting longest."""
        if not self._locked:
            raise RuntimeError("release of an unlocked lock")
        waiters = self._waiters
        if waiters:
            waiters.popleft().set()
        else:
            self._locked = False

    def locked(self) -> bool:
        """Tell whether the lock is taken."""
        return self._locked

    def __enter__(self) -> bool:
        if not self._locked:
            self._locked = True
            return True
        return self.acquire()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # release(), inline: a with-block is on every message's path.
        waiters = self._waiters
        if waiters:
            waiters.popleft().set()
        elif self._locked:
            self._locked = False
        else:
            raise RuntimeError("release of an unlocked lock")


class _GeventPrimitives(Primitives):
    name = "gevent"

    def __init__(self) -> None:
        import gevent
        import gevent.event
        import gevent.socket

        self._gevent = gevent
        self._wait_read = gevent.socket.wait_read
        self._wait_write = gevent.socket.wait_write
        _GreenLock._Event = gevent.event.Event
        self.Lock = _GreenLock
        self.Event = gevent.event.Event

    def spawn(self, func: Callable[[], None], name: str = "wsocket") -> None:
        self._gevent.spawn(func)

    def wait_readable(self, sock: Any, timeout: Optional[float]) -> bool:
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():
            return True
        try:
            self._wait_read(sock.fileno(), timeout=timeout)
        except socket.timeout:
            return False
        return True

    def wait_writable(self, sock: Any, timeout: Optional[float]) -> bool:
        try:
            self._wait_write(sock.fileno(), timeout=timeout)
        except socket.timeout:
            return False
        return True


class _EventletPrimitives(Primitives):
    # A real lock or select.poll would stop every green thread of the
    # process, and eventlet.monkey_patch() removes select.poll altogether.
    name = "eventlet"

    def __init__(self) -> None:
        import eventlet
        import eventlet.green.threading
        import eventlet.hubs
        import eventlet.semaphore

        self._spawn_n = eventlet.spawn_n
        self._trampoline = eventlet.hubs.trampoline
        semaphore = eventlet.semaphore.Semaphore
        self.Lock = lambda: semaphore(1)
        self.Event = eventlet.green.threading.Event

    def spawn(self, func: Callable[[], None], name: str = "wsocket") -> None:
        self._spawn_n(func)

    def wait_readable(self, sock: Any, timeout: Optional[float]) -> bool:
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():
            return True
        try:
            self._trampoline(
                sock.fileno(), read=True, timeout=timeout, timeout_exc=socket.timeout
            )
        except socket.timeout:
            return False
        return True

    def wait_writable(self, sock: Any, timeout: Optional[float]) -> bool:
        try:
            self._trampoline(
                sock.fileno(), write=True, timeout=timeout, timeout_exc=socket.timeout
            )
        except socket.timeout:
            return False
        return True


_threading = Primitives()
_gevent: Optional[Primitives] = None
_eventlet: Optional[Primitives] = None


def primitives_for(sock: Any) -> Primitives:
    """Return the concurrency primitives that suit ``sock``."""
    global _gevent, _eventlet
    if is_gevent_socket(sock):
        if _gevent is None:
            _gevent = _GeventPrimitives()
        return _gevent
    if is_eventlet_socket(sock):
        if _eventlet is None:
            _eventlet = _EventletPrimitives()
        return _eventlet
    return _threading
