"""The browser client, ``wsocket.js``, and a WSGI application that serves it.

A :class:`~wsocket.WSocketApp` with an events route serves it at
:data:`CLIENT_JS_PATH` by itself. Elsewhere (an
:class:`~wsocket.realtime.Events` used as a bare
WSGI application, behind another framework), route that path to
:func:`serve_client_js`, or write :func:`client_js` into your own static
files.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import Any, Callable, Dict, Iterable

from ..static import _entity_tags

__all__ = ["CLIENT_JS_PATH", "client_js", "serve_client_js"]

#: Where a :class:`~wsocket.WSocketApp` with events serves the client (below
#: its ``SCRIPT_NAME``).
CLIENT_JS_PATH = "/wsocket.js"

_CONTENT_TYPE = "text/javascript; charset=utf-8"


@functools.cache
def client_js() -> bytes:
    """The source of ``wsocket.js``, as shipped in the package (UTF-8)."""
    return resources.files("wsocket.realtime").joinpath("wsocket.js").read_bytes()


@functools.cache
def _etag() -> str:
    return '"' + hashlib.sha256(client_js()).hexdigest()[:32] + '"'


def serve_client_js(
    environ: Dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """A WSGI application that answers ``GET`` and ``HEAD`` with ``wsocket.js``.

    The response carries a strong ``ETag`` (a hash of the file) and
    ``Cache-Control: no-cache``: browsers keep the file and revalidate it
    on each load, so an upgraded wsocket is picked up at once and an
    unchanged one costs a ``304 Not Modified``. Other methods get ``405``.
    """
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        text = b"405 Method Not Allowed: wsocket.js answers GET and HEAD only.\n"
        start_response(
            "405 Method Not Allowed",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(text))),
                ("Allow", "GET, HEAD"),
            ],
        )
        return [text]
    etag = _etag()
    validators = [("ETag", etag), ("Cache-Control", "no-cache")]
    condition = environ.get("HTTP_IF_NONE_MATCH")
    if condition is not None:
        star, tags = _entity_tags(condition)
        # If-None-Match uses the weak comparison (RFC 9110 13.1.2).
        if star or any(tag == etag for _, tag in tags):
            start_response("304 Not Modified", validators)
            return []
    body = client_js()
    start_response(
        "200 OK",
        [
            ("Content-Type", _CONTENT_TYPE),
            ("Content-Length", str(len(body))),
            *validators,
        ],
    )
    return [] if method == "HEAD" else [body]
