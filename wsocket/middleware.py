"""WSGI middleware that answers WebSocket upgrades and hands the socket to the app.

Usage::

    from wsocket import WebSocketMiddleware

    def app(environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is None:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"Hello, HTTP"]
        for message in ws:
            ws.send(message)
        return []

    app = WebSocketMiddleware(app)

For an upgrade request the middleware, before answering anything:

1. finds the adapter of the server it runs under (:mod:`wsocket.servers`),
   and refuses clearly when that server cannot hand over its connection;
2. validates the handshake (400, 403 or 426 with a reason on failure);
3. takes over the connection, writes ``101 Switching Protocols`` on it, and
   calls the wrapped app with an open :class:`~wsocket.connection.WebSocket`
   in ``environ["wsgi.websocket"]``;
4. when the app returns or raises, closes the WebSocket (1000, or 1011 with
   the traceback logged) and completes the WSGI call so that the server
   writes nothing more and logs no error.

Any other request goes to the wrapped app untouched.
"""

from __future__ import annotations

import logging
import sys
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Optional,
    Sequence,
    Tuple,
)

from .client import Compression, deflate_options
from .connection import WebSocket
from .exceptions import ConnectionClosed, HandshakeError
from .handshake import (
    Origins,
    check_origins,
    check_trusted_proxies,
    is_upgrade_request,
    reject_response,
    server_handshake,
)
from .protocol import SERVER, Protocol
from .registry import open_websockets, register, unregister
from .servers import find_adapter, note_unanswered_upgrade

if TYPE_CHECKING:
    from .servers import Adapter

__all__ = [
    "WebSocketMiddleware",
    "open_websockets",
    "handles_websockets",
    "note_unanswered_upgrade",
]

logger = logging.getLogger("wsocket.server")

WSGIApp = Callable[[Any, Any], Iterable[bytes]]


# open_websockets() lives in wsocket.registry, below the servers that use
# it; it stays importable from here, where it was documented first.


def handles_websockets(app: Any) -> bool:
    """Tell whether ``app`` answers WebSocket upgrades itself.

    True for a :class:`WebSocketMiddleware`, a
    :class:`~wsocket.app.WSocketApp`, and an object whose ``wsgi_app`` is
    one of those (a Flask app wrapped as ``app.wsgi_app =
    WebSocketMiddleware(app.wsgi_app)``). :func:`wsocket.run` wraps other
    apps in a middleware.
    """
    return bool(
        getattr(app, "wsocket_upgrades", False)
        or getattr(getattr(app, "wsgi_app", None), "wsocket_upgrades", False)
    )


class _SessionResponse:
    """``start_response`` given to the app during a WebSocket session.

    The 101 is already on the wire, so whatever the app "answers" is
    dropped, but its status is kept: frameworks turn an exception in a view
    into a 500 page, and a route they do not know into a 404, and the
    WebSocket should close with a code that says so.
    """

    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = ""

    def __call__(
        self, status: str, headers: Any, exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status = str(status)
        return self.write

    @staticmethod
    def write(data: bytes) -> None:
        return None

    def close_code(self) -> Tuple[int, str]:
        """The close code and reason that match the app's answer."""
        if not self.status:
            return 1000, ""  # the usual case: the app did not answer
        try:
            code = int(self.status[:3])
        except ValueError:
            return 1000, ""
        if code >= 500:
            return 1011, ""
        if code >= 400:
            # A policy violation, with the status as a hint: the app refused
            # the request (unknown route, forbidden...) after the 101.
            return 1008, self.status[:123]
        return 1000, ""


class WebSocketMiddleware:
    """Give a WSGI app WebSockets in ``environ["wsgi.websocket"]``.

    Args:
        app: the WSGI application to wrap.
        subprotocols: subprotocols the app speaks, most preferred first.
        origins: which pages may open a WebSocket (403 for others; see
            :ref:`origin-policy`). ``None`` (the default) allows pages from
            the host the request was sent to, and clients that send no
            ``Origin``; ``"*"`` allows any; a list allows exactly its
            origins and ``https://*.example.com`` patterns, plus clients
            without ``Origin`` if it holds ``None``.
        check_origin: called with the ``Origin`` (or ``None``); ``False``
            refuses the request with 403. It replaces the same-origin check
            when ``origins`` is ``None``.
        trusted_proxies: addresses or networks (``"10.0.0.0/8"``) of the
            proxies in front; from them, ``X-Forwarded-Host`` names the
            host the client asked for.
        compression: ``"deflate"`` (default) accepts permessage-deflate when
            the client offers it, ``None`` never compresses, or pass a
            :class:`~wsocket.deflate.DeflateOptions`.
        max_message_size: largest message accepted from a client, in bytes
            (1009 beyond it); ``None`` lifts the limit.
        ping_interval: seconds between keepalive pings; ``None`` for none.
        ping_timeout: seconds to wait for the client after a ping before
            closing with 1011.
        close_timeout: seconds to wait for the closing handshake.
        idle_timeout: close a WebSocket with 1001 when no message arrived for
            this many seconds while the handler waits in ``receive()``;
            ``None`` (the default) never does.

    The time a client may take to send its handshake request is the
    server's to bound, since the server reads the request: ``timeout`` of
    :class:`~wsocket.server.WSGIServer`, ``--timeout``/``--keep-alive`` of
    gunicorn.

    Wrapping twice is harmless: an inner middleware passes on a request the
    outer one upgraded already.
    """

    #: Read by :func:`handles_websockets`.
    wsocket_upgrades = True

    def __init__(
        self,
        app: WSGIApp,
        *,
        subprotocols: Sequence[str] = (),
        origins: Origins = None,
        check_origin: Optional[Callable[[Optional[str]], bool]] = None,
        trusted_proxies: Sequence[str] = (),
        compression: Compression = "deflate",
        max_message_size: Optional[int] = 2**20,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = None,
        close_timeout: float = 10.0,
        idle_timeout: Optional[float] = None,
    ) -> None:
        if not callable(app):
            raise TypeError("WebSocketMiddleware(app): app must be a WSGI callable")
        if max_message_size is not None and max_message_size <= 0:
            raise ValueError(
                "max_message_size must be a positive number of bytes or None"
            )
        self.app = app
        self.subprotocols = tuple(subprotocols)
        self.origins = check_origins(origins)
        self.check_origin = check_origin
        self.trusted_proxies = check_trusted_proxies(trusted_proxies)
        self.compression = deflate_options(compression)
        self.max_message_size = max_message_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError(
                "idle_timeout must be a positive number of seconds, or None"
            )
        self.idle_timeout = idle_timeout
        if "gunicorn" in sys.modules:
            from .servers.gunicorn import warn_at_load

            warn_at_load()

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        if not is_upgrade_request(environ) or "wsgi.websocket" in environ:
            return self.app(environ, start_response)
        environ["wsocket.middleware"] = self
        adapter = find_adapter(environ)
        if adapter.refusal_for(environ) is not None:
            return adapter.refuse(environ, start_response)
        adapter.prepare(environ)
        try:
            handshake = server_handshake(
                environ,
                subprotocols=self.subprotocols,
                compression=self.compression,
                origins=self.origins,
                check_origin=self.check_origin,
                trusted_proxies=self.trusted_proxies,
            )
        except HandshakeError as exc:
            status, headers, body = reject_response(exc)
            start_response(status, headers)
            return [body]
        ws = self._accept(adapter, handshake, environ, start_response)
        # The handshake (the response headers) is not needed past the 101:
        # not kept for the whole session.
        del handshake
        return self._serve(adapter, ws, environ, start_response)

    def _accept(
        self, adapter: Adapter, handshake: Any, environ: Any, start_response: Any
    ) -> WebSocket:
        """Send the 101 and take the connection over: the WebSocket."""
        sock, extra = adapter.take_over(environ, start_response, handshake.headers)
        protocol = Protocol(
            SERVER, max_message_size=self.max_message_size, deflate=handshake.deflate
        )
        ws = WebSocket(
            sock,
            protocol,
            environ=environ,
            subprotocol=handshake.subprotocol,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout,
            close_socket=adapter.close_socket,
            extra=extra,
            idle_timeout=self.idle_timeout,
        )
        return ws

    def _serve(
        self, adapter: Adapter, ws: WebSocket, environ: Any, start_response: Any
    ) -> Iterable[bytes]:
        environ["wsgi.websocket"] = ws
        environ["wsgi.websocket_version"] = "13"
        register(ws)
        try:
            self._run_app(ws, environ)
        finally:
            unregister(ws)
        return adapter.finish(environ, start_response)

    def _run_app(self, ws: WebSocket, environ: Any) -> None:
        response = _SessionResponse()
        try:
            result = self.app(environ, response)
            try:
                # Drain what the app returned; a generator may still be
                # running the session.
                for _ in result or ():
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except ConnectionClosed:
            pass  # the client went away: a normal end for a handler
        except Exception:
            logger.exception(
                "error in WebSocket handler for %s", environ.get("PATH_INFO", "?")
            )
            ws.close(1011)
            return
        except BaseException:
            # The worker is being stopped under the handler (SystemExit from
            # gunicorn's timeout, GreenletExit, KeyboardInterrupt): tell the
            # client to come back, without waiting for its answer.
            ws.fail(1001, "server going away")
            raise
        code, reason = response.close_code()
        if code == 1011:
            logger.error(
                "WebSocket handler for %s answered %r: closing with 1011; the "
                "framework's log has the error",
                environ.get("PATH_INFO", "?"),
                response.status,
            )
        ws.close(code, reason)
