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
from typing import Any, Callable, Optional

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


class _GeventPrimitives(Primitives):
    name = "gevent"

    def __init__(self) -> None:
        import gevent
        import gevent.event
        import gevent.lock
        import gevent.socket

        self._gevent = gevent
        self._wait_read = gevent.socket.wait_read
        self._wait_write = gevent.socket.wait_write
        self.Lock = gevent.lock.Semaphore
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
