"""Adapter for eventlet's WSGI server (:func:`eventlet.wsgi.server`).

eventlet hands over its connection through
``environ["eventlet.input"].get_socket()``, a green socket. After the
session, setting ``eventlet.wsgi.WSGI_LOCAL.already_handled`` tells eventlet
that the application answered on the socket itself: it writes nothing, logs
the request once (with the status recorded by ``start_response``, here 101),
and closes the connection. Older eventlet releases, which have no
``WSGI_LOCAL``, expected the application to return
``eventlet.wsgi.ALREADY_HANDLED`` instead; both are supported.

A WebSocket on a green socket waits with eventlet's own primitives
(:func:`wsocket.concurrency.primitives_for` picks them), whether or not the
process is monkey-patched.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Iterable, List, Tuple

from . import Adapter, write_101

__all__ = ["EventletAdapter"]


class EventletAdapter(Adapter):
    """eventlet exposes ``environ["eventlet.input"].get_socket()``."""

    name = "eventlet"
    # eventlet shuts the socket down and closes it when the request ends.
    close_socket = False

    def matches(self, environ: Any) -> bool:
        return "eventlet.input" in environ

    def prepare(self, environ: Any) -> None:
        """Correct what eventlet's environ says about an upgrade request.

        eventlet sets ``SERVER_PROTOCOL`` to ``HTTP/1.0`` whatever the
        request line said, and does not keep the real version anywhere in
        the environ; the handshake would refuse every request as HTTP/1.0.
        eventlet itself answers in HTTP/1.1, so the request is taken as 1.1.
        """
        if environ.get("SERVER_PROTOCOL") == "HTTP/1.0":
            environ["SERVER_PROTOCOL"] = "HTTP/1.1"

    def take_over(
        self,
        environ: Any,
        start_response: Callable[..., Any],
        headers: List[Tuple[str, str]],
    ) -> Tuple[Any, bytes]:
        request_input = environ["eventlet.input"]
        sock = request_input.get_socket()
        rfile = getattr(request_input, "rfile", None)
        extra = write_101(sock, headers, start_response, rfile)
        return sock, extra

    def finish(
        self, environ: Any, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        import eventlet.wsgi

        try:
            environ["eventlet.input"].get_socket().shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        local = getattr(eventlet.wsgi, "WSGI_LOCAL", None)
        if local is not None:
            local.already_handled = True
            return []
        result: Iterable[bytes] = eventlet.wsgi.ALREADY_HANDLED
        return result


ADAPTER = EventletAdapter()
