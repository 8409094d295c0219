"""Server adapters: how each WSGI server hands its connection to a WebSocket.

PEP 3333 has no way for an application to take over the connection, so every
server needs its own small trick. An :class:`Adapter` knows one server: how
to recognise its environ, how to take the raw socket, and how to finish the
WSGI call afterwards so that the server writes nothing more and logs no
error. :class:`~wsocket.middleware.WebSocketMiddleware` asks
:func:`find_adapter` for the right one *before* it answers the handshake.

Add an adapter for a server wsocket does not know with
:func:`register_adapter`.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, List, Optional, Tuple

from ..concurrency import write_all
from ..handshake import is_upgrade_request

__all__ = [
    "note_unanswered_upgrade",
    "Adapter",
    "register_adapter",
    "find_adapter",
    "response_101",
    "buffered_bytes",
    "write_101",
]

logger = logging.getLogger("wsocket.server")


def response_101(headers: List[Tuple[str, str]]) -> bytes:
    """Serialise a ``101 Switching Protocols`` response with ``headers``."""
    lines = ["HTTP/1.1 101 Switching Protocols\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def buffered_bytes(rfile: Any, sock: Any) -> bytes:
    """Return what ``rfile`` already read from ``sock`` past the request.

    A buffered reader may hold the first WebSocket frames of a fast client.
    The buffered bytes are returned without touching the socket; when there
    are none, one non-blocking read takes what the kernel has, so nothing is
    ever waited for and nothing is lost.
    """
    read1: Optional[Callable[[int], Optional[bytes]]] = getattr(rfile, "read1", None)
    if read1 is None:
        return b""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        return read1(1 << 20) or b""
    except (OSError, ValueError):
        return b""  # nothing to read now, or TLS wants more records
    finally:
        sock.settimeout(timeout)


def write_101(
    sock: Any,
    headers: List[Tuple[str, str]],
    start_response: Callable[..., Any],
    rfile: Any = None,
) -> bytes:
    """Hand a connection over: the common steps of servers with a raw socket.

    Takes what ``rfile`` buffered past the request, records the 101 with the
    server's ``start_response`` (only for its access log: servers that call
    this never write that status themselves), switches ``sock`` to blocking
    mode (an HTTP read timeout must not cut a session) and writes the 101.

    Returns:
        the bytes read past the request, for the WebSocket.
    """
    extra = buffered_bytes(rfile, sock) if rfile is not None else b""
    start_response("101 Switching Protocols", list(headers))
    sock.settimeout(None)
    write_all(sock, response_101(headers))
    return extra


_hinted = False


def note_unanswered_upgrade(environ: Any, status: str) -> None:
    """Log, once, how to add WebSockets when a server saw an upgrade refused.

    Servers call it after an app answered a WebSocket upgrade request with
    something else than ``101``: when no
    :class:`~wsocket.middleware.WebSocketMiddleware` saw the request, the app
    most likely lacks one.
    """
    global _hinted
    if _hinted or "wsocket.middleware" in environ:
        return
    if not is_upgrade_request(environ):
        return
    _hinted = True
    logger.warning(
        "a WebSocket upgrade to %s got %r from an app without "
        "WebSocketMiddleware: wrap it, app = wsocket.WebSocketMiddleware(app) "
        "(for Flask: app.wsgi_app = wsocket.WebSocketMiddleware(app.wsgi_app)), "
        "or build it with wsocket.WSocketApp",
        environ.get("PATH_INFO", "?"),
        str(status),
    )


class Adapter:
    """How one WSGI server lets the middleware take over a connection.

    Subclass it for a server wsocket does not know, and register an
    instance with :func:`register_adapter`.

    Attributes:
        name: the server's name, used in log lines and error messages.
        close_socket: whether the WebSocket closes the socket when done
            (``False`` when the server closes it itself).
        refusal: ``None`` when upgrades work; otherwise the reason they
            cannot, sent with a 501 response.
    """

    name = "unknown"
    close_socket = True
    refusal: Optional[str] = None

    def matches(self, environ: Any) -> bool:
        """Tell whether ``environ`` comes from this adapter's server."""
        raise NotImplementedError

    def prepare(self, environ: Any) -> None:
        """Correct ``environ`` before the handshake is validated (a no-op here).

        For servers whose environ misstates the request, e.g. a wrong
        ``SERVER_PROTOCOL``.
        """

    def refusal_for(self, environ: Any) -> Optional[str]:
        """Return why this request cannot be upgraded here, or ``None``.

        Defaults to :attr:`~Adapter.refusal`; override it when only some of the
        server's configurations can hand over their connection.
        """
        return self.refusal

    def take_over(
        self,
        environ: Any,
        start_response: Callable[..., Any],
        headers: List[Tuple[str, str]],
    ) -> Tuple[Any, bytes]:
        """Take the connection and send the 101 response with ``headers``.

        Returns:
            ``(sock, extra)``: the socket, and bytes already read from it past
            the request (the first WebSocket frames, if any).
        """
        raise NotImplementedError

    def finish(
        self, environ: Any, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Return what the WSGI call returns once the WebSocket session ended."""
        return []

    _refusal_logged = False

    def refuse(
        self, environ: Any, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Answer an upgrade this server cannot perform: 501 with the reason."""
        reason = (
            self.refusal_for(environ)
            or "WebSocket upgrades are not supported by this server"
        )
        if not type(self)._refusal_logged:
            type(self)._refusal_logged = True
            logger.error("%s", reason)
        body = (reason + "\n").encode("utf-8")
        start_response(
            "501 Not Implemented",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


class _Unknown(Adapter):
    name = "unknown"
    refusal = (
        "WebSocket upgrade refused: this WSGI server does not hand over its "
        "connection and wsocket has no adapter for it. Serve the app with "
        "wsocket's run(), gevent, gunicorn (-k gevent or gthread) or the "
        "werkzeug dev server, or register an adapter with "
        "wsocket.servers.register_adapter()."
    )

    def matches(self, environ: Any) -> bool:
        return True


_adapters: List[Adapter] = []
_builtin: List[Adapter] = []
_unknown = _Unknown()


def register_adapter(adapter: Adapter, *, first: bool = True) -> None:
    """Add an adapter; by default it is tried before the built-in ones."""
    if not isinstance(adapter, Adapter):
        raise TypeError("register_adapter() takes an Adapter instance")
    if first:
        _adapters.insert(0, adapter)
    else:
        _adapters.append(adapter)


def find_adapter(environ: Any) -> Adapter:
    """Return the adapter for the server that produced ``environ``.

    Never fails: for an unknown server it returns an adapter whose
    :attr:`~Adapter.refusal` explains what to do.
    """
    for adapter in _adapters:
        if adapter.matches(environ):
            return adapter
    if not _builtin:
        _load_builtin()
    for adapter in _builtin:
        if adapter.matches(environ):
            return adapter
    return _unknown


#: Built-in adapter modules, in the order they are tried: the more specific
#: first (gunicorn's gevent workers also look like gevent's own server).
BUILTIN = ("wsocket", "gunicorn", "gevent", "eventlet", "werkzeug", "uwsgi", "waitress")


def _load_builtin() -> None:
    import importlib

    for name in BUILTIN:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # no adapter module of that name in this version
            raise
        _builtin.append(module.ADAPTER)
