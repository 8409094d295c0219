"""Adapter for gevent's WSGI server, :mod:`gevent.pywsgi`.

Usage, with nothing gevent-specific in the app::

    from gevent import monkey
    monkey.patch_all()  # optional: wsocket works with or without it

    from gevent import pywsgi
    from wsocket import WebSocketMiddleware

    server = pywsgi.WSGIServer(("0.0.0.0", 8000), WebSocketMiddleware(app))
    server.serve_forever()

Passing ``handler_class=WebSocketHandler`` (see :class:`WebSocketHandler`)
is optional; it helps when a middleware outside ``WebSocketMiddleware``
replaces ``wsgi.input`` or holds the response back, or when the server's
``environ`` changes ``SERVER_SOFTWARE``.

Strategy: gevent's handler reads the request through a buffered reader over
the connection, and for an upgrade request it passes that reader itself as
``wsgi.input`` (an upgrade has no body of known length). So:

- *taking over*: the socket is the one under that reader; bytes the reader
  buffered past the request head, if any, are read out of it without
  blocking and handed to the protocol;
- *the 101*: the adapter calls ``start_response("101 Switching Protocols")``
  and the returned ``write(b"")``, so gevent itself sends the head. gevent
  knows a 101 takes no body framing, so it records the status (its access
  log line says 101) and, with the headers sent and the app returning an
  empty list, writes nothing more;
- *finishing*: the WebSocket shuts the socket down when the session ends
  (the server keeps ownership and closes it), so gevent's keep-alive loop
  reads end-of-file where it would look for the next request and closes
  the connection without logging anything. With :class:`WebSocketHandler`
  the adapter also tells the handler not to look for another request.

The module imports nothing from gevent until :class:`WebSocketHandler` is
used, so that looking up adapters costs nothing in a process without gevent.
"""

from __future__ import annotations

import io
import socket
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from ..concurrency import is_gevent_socket
from . import Adapter

__all__ = ["GeventAdapter", "WebSocketHandler", "HANDLER_KEY"]

if TYPE_CHECKING:
    # Built on first access by the module's __getattr__ (below).
    WebSocketHandler: Any

#: The environ key where :class:`WebSocketHandler` puts itself.
HANDLER_KEY = "wsocket.pywsgi_handler"

_STATUS_101 = "101 Switching Protocols"


def pywsgi_reader(environ: Any) -> Optional[io.BufferedReader]:
    """Return the buffered reader over a gevent socket behind ``wsgi.input``.

    ``None`` when ``wsgi.input`` is not gevent's: for an upgrade request
    gevent passes the reader itself, otherwise its ``Input`` wrapper keeps the
    reader in ``rfile``.
    """
    stream = environ.get("wsgi.input")
    reader = getattr(stream, "rfile", stream)
    if not isinstance(reader, io.BufferedReader):
        return None
    raw = reader.raw
    if not isinstance(raw, socket.SocketIO):
        return None
    if not is_gevent_socket(getattr(raw, "_sock", None)):
        return None
    return reader


def _read_buffered(reader: io.BufferedReader, sock: Any) -> bytes:
    """Take the bytes ``reader`` holds (or can read at once) without blocking.

    With the socket in non-blocking mode, a read that would wait returns
    nothing instead, so ``peek`` gives what is buffered, or what the kernel
    already has, or ``b""``.
    """
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        data = reader.peek(65536)
        # peek() does not consume: read exactly what it showed, which is
        # buffered now and so cannot block.
        return reader.read(len(data)) if data else b""
    except OSError:
        return b""  # the connection broke: the session will see it first thing
    finally:
        sock.settimeout(timeout)


def send_101(
    start_response: Callable[..., Any], headers: List[Tuple[str, str]]
) -> None:
    """Have the server write the 101 head through ordinary WSGI calls."""
    write = start_response(_STATUS_101, list(headers))
    write(b"")


def pywsgi_take_over(
    environ: Any,
    start_response: Callable[..., Any],
    headers: List[Tuple[str, str]],
    server: str = "gevent",
) -> Tuple[Any, bytes]:
    """Take a :mod:`gevent.pywsgi` connection and send the 101 on it.

    Shared with the adapter of gunicorn's ``gevent_pywsgi`` worker, which
    runs gevent's handler too.

    Returns:
        ``(sock, extra)`` as :meth:`~wsocket.servers.Adapter.take_over` does.

    Raises:
        RuntimeError: if the connection cannot be found, or the 101 did not
            reach the client because a middleware in between holds the
            response back.
    """
    handler = environ.get(HANDLER_KEY)
    if handler is not None:
        sock = handler.socket
        reader = handler.rfile
    else:
        found = pywsgi_reader(environ)
        if found is None:
            raise RuntimeError(
                f"{server}: wsgi.input is not gevent's reader, so the connection "
                "cannot be taken over; pass handler_class="
                "wsocket.servers.gevent.WebSocketHandler to the WSGIServer"
            )
        reader = found
        sock = reader.raw._sock  # type: ignore[attr-defined]
    extra = _read_buffered(reader, sock)
    send_101(start_response, headers)
    if handler is not None and not handler.headers_sent:
        raise RuntimeError(
            f"{server}: the 101 response was not sent: a middleware outside "
            "WebSocketMiddleware holds back the response; make "
            "WebSocketMiddleware the outermost middleware"
        )
    return sock, extra


class GeventAdapter(Adapter):
    """:class:`gevent.pywsgi.WSGIServer`, with or without monkey-patching.

    Recognises gevent's environ (``SERVER_SOFTWARE`` starting with
    ``gevent/`` and gevent's reader as ``wsgi.input``) or the key that
    :class:`WebSocketHandler` adds.
    """

    name = "gevent"
    close_socket = False  # gevent's handler closes the socket it accepted

    def matches(self, environ: Any) -> bool:
        if HANDLER_KEY in environ:
            return True
        software = environ.get("SERVER_SOFTWARE", "")
        return (
            isinstance(software, str)
            and software.startswith("gevent/")
            and pywsgi_reader(environ) is not None
        )

    def take_over(
        self,
        environ: Any,
        start_response: Callable[..., Any],
        headers: List[Tuple[str, str]],
    ) -> Tuple[Any, bytes]:
        return pywsgi_take_over(environ, start_response, headers)

    def finish(self, environ: Any, start_response: Callable[..., Any]) -> List[bytes]:
        handler = environ.get(HANDLER_KEY)
        if handler is not None:
            # Skip the read for a next request that cannot come.
            handler.close_connection = True
        return []


ADAPTER = GeventAdapter()

_handler_class: Any = None


def _make_handler_class() -> Any:
    from gevent import pywsgi

    class WebSocketHandler(pywsgi.WSGIHandler):  # type: ignore[misc]
        """A :class:`gevent.pywsgi.WSGIHandler` that exposes itself to wsocket.

        Pass it as ``handler_class`` to :class:`gevent.pywsgi.WSGIServer`.
        It changes nothing for plain HTTP requests; for WebSocket upgrades it
        lets the adapter reach the connection directly instead of through
        ``wsgi.input``, check that the 101 was sent, and end the keep-alive
        loop without another read.
        """

        def get_environ(self) -> Any:
            environ = super().get_environ()
            environ[HANDLER_KEY] = self
            return environ

        def run_application(self) -> None:
            super().run_application()
            status = self.status
            if status and not str(status).startswith("101"):
                from . import note_unanswered_upgrade

                note_unanswered_upgrade(self.environ, status)

    WebSocketHandler.__module__ = __name__
    return WebSocketHandler


def __getattr__(name: str) -> Any:
    # WebSocketHandler subclasses gevent's handler: build it on first use so
    # that importing this module never imports gevent.
    global _handler_class
    if name == "WebSocketHandler":
        if _handler_class is None:
            _handler_class = _make_handler_class()
        return _handler_class
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
