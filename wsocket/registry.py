"""The WebSockets open in this process, and closing them all when a server stops.

:class:`~wsocket.middleware.WebSocketMiddleware` registers every WebSocket
it opens and unregisters it when the session ends; servers (wsocket's own,
gunicorn's workers) call :func:`~wsocket.registry.close_all` when they
stop. The module sits below both, so neither imports the other.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Callable, Optional, Set

from .concurrency import is_gevent_socket

if TYPE_CHECKING:
    from .connection import WebSocket

__all__ = ["register", "unregister", "open_websockets", "close_all"]

logger = logging.getLogger("wsocket.server")

_open: weakref.WeakSet[WebSocket] = weakref.WeakSet()
_lock = threading.Lock()


def register(ws: WebSocket) -> None:
    """Count ``ws`` among the open WebSockets of this process."""
    with _lock:
        _open.add(ws)


def unregister(ws: WebSocket) -> None:
    """Forget ``ws`` (its session ended); unknown sockets are ignored."""
    with _lock:
        _open.discard(ws)


def open_websockets() -> Set[WebSocket]:
    """Return the WebSockets currently open through any middleware in this process.

    Servers use it (through :func:`~wsocket.registry.close_all`) to close
    them with 1001 when they shut down.
    """
    with _lock:
        return set(_open)


def close_all(
    code: int = 1001,
    reason: str = "server shutting down",
    *,
    grace: Optional[float] = None,
) -> int:
    """Close every WebSocket open in this process: going away by default.

    Each connection gets a Close frame with ``code`` and ``reason`` right
    after the frame it is sending, if any, as soon as its socket can take
    it; a peer that answers ends its session at once. The frames are written
    in the background, so a client that does not read holds no one up. Safe
    to call from a signal handler when ``grace`` is ``None``.

    Args:
        code: the close code; 1001 (going away) tells clients to reconnect.
        reason: a short explanation, at most 123 bytes of UTF-8.
        grace: if given, wait up to this many seconds for the connections to
            end, then abort (drop the TCP connection of) those still open.
            ``None`` returns at once.

    Returns:
        The number of connections aborted because ``grace`` ran out.
    """
    sockets = open_websockets()
    for ws in sockets:
        try:
            ws.start_close(code, reason, block=False, going_away=True)
        except Exception:  # pragma: no cover - best effort at shutdown
            logger.debug("error closing a WebSocket at shutdown", exc_info=True)
    if grace is None or not sockets:
        return 0
    sleep = _sleep_for(next(iter(sockets)).sock)
    deadline = time.monotonic() + grace
    pending = [ws for ws in sockets if not ws.finished]
    while pending and time.monotonic() < deadline:
        sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        pending = [ws for ws in pending if not ws.finished]
    for ws in pending:
        ws.abort()
    if pending:
        logger.info(
            "aborted %d WebSocket(s) still open %.3gs after the Close",
            len(pending),
            grace,
        )
    return len(pending)


def _sleep_for(sock: object) -> Callable[[float], None]:
    # A gevent server that is not monkey-patched needs gevent's own sleep.
    if is_gevent_socket(sock):
        import gevent

        return gevent.sleep  # type: ignore[no-any-return]
    return time.sleep
