"""The WebSockets open in this process, and closing them all when a server stops.

:class:`~wsocket.middleware.WebSocketMiddleware` registers every WebSocket
it opens and unregisters it when the session ends; servers (wsocket's own,
gunicorn's workers) call :func:`close_all` when they stop. The module sits
below both, so neither imports the other.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Set

from .concurrency import primitives_for

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

    Servers use it (through :func:`close_all`) to close them with 1001 when
    they shut down.
    """
    with _lock:
        return set(_open)


def close_all(code: int = 1001, reason: str = "server shutting down") -> None:
    """Start closing every WebSocket open in this process, without waiting.

    Each closing handshake starts in its own greenlet or thread (whichever
    suits the socket), so a slow client delays no other. Safe to call from a
    signal handler.

    Args:
        code: the close code; 1001 (going away) tells clients to reconnect.
        reason: a short explanation, at most 123 bytes of UTF-8.
    """
    for ws in open_websockets():
        primitives_for(ws.sock).spawn(
            functools.partial(_start_close, ws, code, reason), "wsocket-going-away"
        )


def _start_close(ws: WebSocket, code: int, reason: str) -> None:
    try:
        ws.start_close(code, reason)
    except Exception:  # pragma: no cover - best effort at shutdown
        logger.debug("error closing a WebSocket at shutdown", exc_info=True)
