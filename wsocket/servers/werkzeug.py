"""Adapter for werkzeug's development server.

That server runs under ``flask run``, Flask's ``app.run()`` and
:func:`werkzeug.serving.run_simple`, threaded or not, with or without the
debugger. Since werkzeug 2.0 it puts the connection in
``environ["werkzeug.socket"]``.

Strategy: the hard part is the end of the session. When the WSGI call
returns, werkzeug sends the status line of whatever ``start_response`` set,
or fails if nothing was set, and treats a failure as an application error
(a 500 page and a logged traceback). So the adapter:

1. records ``101 Switching Protocols`` with werkzeug's ``start_response`` but
   writes the 101 on the socket itself, because werkzeug would add
   ``Connection: close`` to it;
2. after the session, leaves the socket open but shut down in both
   directions, and returns an empty body.

werkzeug then logs the request once, as a 101, and tries to send the status
line into the shut-down socket. The kernel refuses with ``EPIPE``, werkzeug
files that under "client went away" (``connection_dropped``), which is
silent, reads EOF, and closes the connection. Nothing reaches the wire after
the closing handshake, and the debugger never sees an exception, so
``flask run --debug`` behaves the same.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Iterable, List, Tuple

from . import Adapter, write_101

__all__ = ["WerkzeugAdapter"]


class WerkzeugAdapter(Adapter):
    """werkzeug's dev server exposes ``environ["werkzeug.socket"]``."""

    name = "werkzeug"
    # werkzeug checks the socket after the call, then closes it itself.
    close_socket = False

    def matches(self, environ: Any) -> bool:
        return "werkzeug.socket" in environ

    def take_over(
        self,
        environ: Any,
        start_response: Callable[..., Any],
        headers: List[Tuple[str, str]],
    ) -> Tuple[Any, bytes]:
        # werkzeug would add "Connection: close" to a 101 of its own, so the
        # status is only recorded for its log and written here.
        sock = environ["werkzeug.socket"]
        return sock, write_101(sock, headers, start_response, environ.get("wsgi.input"))

    def finish(
        self, environ: Any, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        # The WebSocket shut the socket down already; make sure, since the
        # silent ending depends on it.
        try:
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return []


ADAPTER = WerkzeugAdapter()
