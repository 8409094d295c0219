"""Where sends to rooms and to connection ids go: the backend interface.

An :class:`~wsocket.realtime.Events` object knows only the connections of
its own process. Every send that names a room or a connection id
(``events.broadcast()``, ``events.emit_to()``) goes through its backend, so
that a backend can carry it to other processes:

- :class:`MemoryBackend`, the default, delivers in this process at once;
- a backend over a message bus (Redis pub/sub, for instance) publishes
  each send, and every process, its publisher included, delivers what it
  receives to its own members through the :class:`Delivery` it was given
  in :meth:`Backend.start`.

What travels is the method and the params, not the encoded message: each
process encodes with its own format.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Optional, Sequence, Tuple

__all__ = ["Backend", "Broadcast", "Delivery", "MemoryBackend"]

#: One broadcast as :meth:`Delivery.deliver_many` takes it:
#: ``(method, params, room, exclude)``, the arguments of
#: :meth:`Delivery.deliver`.
Broadcast = Tuple[str, Any, Optional[str], Collection[str]]


class Delivery:
    """What a backend delivers to: the connections of one process.

    :class:`~wsocket.realtime.Events` implements it; a backend only calls
    these two methods, from any thread or greenlet.
    """

    def deliver(
        self,
        method: str,
        params: Any,
        room: Optional[str],
        exclude: Collection[str],
    ) -> int:
        """Send an event to this process's members of ``room`` (all if ``None``).

        Connections whose id is in ``exclude`` are skipped.

        Returns:
            how many connections the event was queued for.
        """
        raise NotImplementedError

    def deliver_many(self, broadcasts: Sequence[Broadcast]) -> int:
        """Deliver several broadcasts, in order, as :meth:`deliver` would.

        A backend that receives broadcasts in batches (a bus that fell
        behind) hands them over together, so that each connection can get
        all of its events with one write. The default calls :meth:`deliver`
        for each.

        Returns:
            how many sends were queued, over all the broadcasts.
        """
        return sum(self.deliver(*broadcast) for broadcast in broadcasts)

    def deliver_to(self, conn_id: str, method: str, params: Any) -> bool:
        """Send an event to the connection ``conn_id`` if it is in this process.

        Returns:
            whether the connection is here (and open).
        """
        raise NotImplementedError

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name`` of the endpoint's ``stats``.

        A backend reports what it publishes, loses and receives this way
        (``n=0`` makes a counter appear). A no-op by default.
        """


class Backend:
    """Carries room and connection-id sends to the processes that hold them.

    Subclass it for a backend that spans processes. Every method may be
    called from any thread or greenlet; none may block for long, since
    ``broadcast`` is called from request handlers.
    """

    def start(self, delivery: Delivery) -> None:
        """Begin delivering to ``delivery``.

        Called once per process, when the first connection opens (after any
        fork), so a backend may open its network connections here.
        """
        raise NotImplementedError

    def stop(self) -> None:
        """Stop delivering and release resources (a no-op by default)."""

    def connected(self, conn_id: str) -> None:
        """A connection of this process opened (a no-op by default)."""

    def disconnected(self, conn_id: str) -> None:
        """A connection of this process closed (a no-op by default)."""

    def joined(self, conn_id: str, room: str) -> None:
        """A connection of this process joined ``room`` (a no-op by default).

        A pub/sub backend subscribes to the room's channel with its first
        local member, for instance.
        """

    def left(self, conn_id: str, room: str) -> None:
        """A connection of this process left ``room`` (a no-op by default)."""

    def run_once(self, name: str, start: Callable[[], None]) -> None:
        """Call ``start()`` in one process only of all that share the backend.

        For ``events.start_background_task(fn, once=True)``; ``name`` is the
        same in every process for the same task. The default calls
        ``start()`` at once: an in-process backend knows no other process.
        A backend that spans processes elects one (and elects another when
        that one dies).
        """
        start()

    def broadcast(
        self,
        method: str,
        params: Any,
        room: Optional[str],
        exclude: Collection[str],
    ) -> None:
        """Deliver an event to every member of ``room`` (everyone if ``None``).

        ``exclude`` holds connection ids to skip.
        """
        raise NotImplementedError

    def emit_to(self, conn_id: str, method: str, params: Any) -> None:
        """Deliver an event to the connection ``conn_id``, wherever it is."""
        raise NotImplementedError


class MemoryBackend(Backend):
    """The in-process backend: sends reach this process's connections only."""

    def __init__(self) -> None:
        self._delivery: Optional[Delivery] = None

    def start(self, delivery: Delivery) -> None:
        self._delivery = delivery

    def stop(self) -> None:
        self._delivery = None

    def broadcast(
        self,
        method: str,
        params: Any,
        room: Optional[str],
        exclude: Collection[str],
    ) -> None:
        if self._delivery is not None:
            self._delivery.deliver(method, params, room, exclude)

    def emit_to(self, conn_id: str, method: str, params: Any) -> None:
        if self._delivery is not None:
            self._delivery.deliver_to(conn_id, method, params)
