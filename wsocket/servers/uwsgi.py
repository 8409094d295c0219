"""Adapter for uWSGI (``--http-socket``, or behind its HTTP router).

uWSGI puts no socket in the environ, but ``uwsgi.connection_fd()`` returns
the descriptor of the current connection. Its own WebSocket functions
(``uwsgi.websocket_recv`` and friends) are not used: they cannot tell a text
message from a binary one, cannot send a close code (uWSGI answers every
Close with an empty one), and know no extensions. Instead:

1. the 101 goes out through uWSGI's own ``start_response`` and ``write``, so
   that uWSGI knows the response has started, never writes another one, and
   logs the request as a 101;
2. the WebSocket runs over a socket object built on a duplicate of the
   descriptor (a gevent socket under ``--gevent``), so the whole of
   :class:`~wsocket.connection.WebSocket` works unchanged: close codes,
   compression, pings, limits;
3. when the session ends, the WebSocket shuts the connection down and closes
   its duplicate; the WSGI call returns an empty body, and uWSGI closes its
   own descriptor as after any request.

With ``--https-socket`` uWSGI encrypts in the worker, and the raw descriptor
carries TLS records: those connections cannot be taken over (terminate TLS
in front of uWSGI instead).
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable, Iterable, List, Optional, Tuple

from . import Adapter

__all__ = ["UwsgiAdapter", "HTTPS_SOCKET_REFUSAL"]

HTTPS_SOCKET_REFUSAL = (
    "WebSocket upgrade refused: uWSGI does TLS itself on --https-socket, so "
    "the connection cannot be handed over. Terminate TLS in front of uWSGI "
    "(a proxy, or uWSGI's --https router with --http-websockets) and serve "
    "the app on --http-socket."
)


def _in_worker_tls(uwsgi: Any, environ: Any) -> bool:
    """Tell whether this request came through an ``--https-socket``."""
    opt = getattr(uwsgi, "opt", None) or {}
    if "https-socket" not in opt:
        return False
    return bool(
        environ.get("HTTPS") in ("on", "1") or environ.get("wsgi.url_scheme") == "https"
    )


def _loop(uwsgi: Any) -> str:
    """The name of uWSGI's loop engine (``uwsgi.loop`` is bytes, or None)."""
    loop = getattr(uwsgi, "loop", None)
    if isinstance(loop, bytes):
        return loop.decode("ascii", "replace")
    return loop or ""


class UwsgiAdapter(Adapter):
    """uWSGI exposes its connection through ``uwsgi.connection_fd()``."""

    name = "uwsgi"
    # The WebSocket owns a duplicate descriptor; uWSGI closes the original.
    close_socket = True

    def matches(self, environ: Any) -> bool:
        return "uwsgi.version" in environ

    def refusal_for(self, environ: Any) -> Optional[str]:
        import uwsgi

        return HTTPS_SOCKET_REFUSAL if _in_worker_tls(uwsgi, environ) else None

    def take_over(
        self,
        environ: Any,
        start_response: Callable[..., Any],
        headers: List[Tuple[str, str]],
    ) -> Tuple[Any, bytes]:
        import uwsgi

        fd = uwsgi.connection_fd()
        write = start_response("101 Switching Protocols", list(headers))
        write(b"")  # uWSGI sends the status line and headers now
        if _loop(uwsgi) == "gevent":
            from gevent import socket as green

            sock: Any = green.socket(fileno=os.dup(fd))
        else:
            sock = socket.socket(fileno=os.dup(fd))
            # uWSGI made the descriptor non-blocking; the WebSocket blocks.
            sock.settimeout(None)
        # Bytes uWSGI read past the request stay in its buffer, which Python
        # cannot reach: only frames a client sent before the 101 arrived,
        # which RFC 6455 (4.1) forbids, can be there, and they are lost.
        return sock, b""

    def finish(
        self, environ: Any, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        return []


ADAPTER = UwsgiAdapter()
