"""Adapter for waitress, which cannot serve WebSockets.

waitress hands the application no socket (its environ carries only
``waitress.client_disconnected``), and it refuses ``Upgrade`` and
``Connection`` in a response as hop-by-hop headers, so a 101 cannot even be
expressed through it. An upgrade request therefore gets a 501 that names
waitress and what to use instead, logged once per process; every other
request reaches the application as usual.
"""

from __future__ import annotations

from typing import Any

from . import Adapter

__all__ = ["WaitressAdapter"]


class WaitressAdapter(Adapter):
    """Recognises waitress and refuses upgrades with a clear reason."""

    name = "waitress"
    refusal = (
        "WebSocket upgrade refused: waitress cannot serve WebSockets (it gives "
        "applications no access to the connection and forbids the Upgrade and "
        "Connection response headers). Serve the WebSocket routes with "
        "wsocket's run(), gunicorn (-k gevent or gthread), gevent's "
        "WSGIServer, uWSGI or the werkzeug dev server; waitress can keep "
        "serving the plain HTTP routes."
    )

    def matches(self, environ: Any) -> bool:
        # waitress 2.0 and later set the key; older ones only identify
        # themselves (the default ``ident``).
        return (
            "waitress.client_disconnected" in environ
            or environ.get("SERVER_SOFTWARE") == "waitress"
        )


ADAPTER = WaitressAdapter()
