"""wsocket: a WSGI application framework with first-class WebSocket support.

The names most programs need are importable from here::

    import wsocket

    ws = wsocket.connect("ws://127.0.0.1:8080/echo")

Everything re-exported here is public and documented; anything else in the
package is private unless its module's ``__all__`` names it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .deflate import DeflateOptions, PerMessageDeflate
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    InvalidState,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
)
from .frames import CloseCode, Frame, Opcode
from .protocol import (
    CLIENT,
    SERVER,
    BinaryMessage,
    Close,
    Ping,
    Pong,
    Protocol,
    Side,
    State,
    TextMessage,
)

#: The package's logger, ``"wsocket"``; its children are ``wsocket.server``
#: (connections), ``wsocket.app`` (handler errors) and ``wsocket.access``
#: (one line per request from wsocket's own server). ``logger.setLevel(10)``
#: shows the debug output, printed by :func:`run` unless the program
#: configured logging itself.
logger = logging.getLogger("wsocket")

if TYPE_CHECKING:
    from .app import WSocketApp
    from .client import connect
    from .connection import WebSocket
    from .middleware import WebSocketMiddleware
    from .request import (
        BadRequest,
        MultiDict,
        Request,
        RequestError,
        RequestTooLarge,
        UploadedFile,
    )
    from .responses import HTTPError, Response, abort, json_response, redirect
    from .server import WSGIServer, make_server, run
    from .static import StaticFiles, StaticResponse, serve_static

# The I/O layers load on first use, so that importing the sans-I/O core
# (wsocket.frames, wsocket.protocol...) never imports socket, ssl or select.
_LAZY = {
    "connect": "client",
    "WebSocket": "connection",
    "WebSocketMiddleware": "middleware",
    "WSGIServer": "server",
    "make_server": "server",
    "run": "server",
    "WSocketApp": "app",
    "Response": "responses",
    "HTTPError": "responses",
    "abort": "responses",
    "json_response": "responses",
    "redirect": "responses",
    "Request": "request",
    "RequestError": "request",
    "BadRequest": "request",
    "RequestTooLarge": "request",
    "MultiDict": "request",
    "UploadedFile": "request",
    "StaticFiles": "static",
    "StaticResponse": "static",
    "serve_static": "static",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wsocket' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0.dev0"

__all__ = [
    "__version__",
    "connect",
    "run",
    "make_server",
    "WSGIServer",
    "WebSocketMiddleware",
    "WebSocket",
    "DeflateOptions",
    "PerMessageDeflate",
    "WebSocketError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "PayloadTooBig",
    "HandshakeError",
    "NegotiationError",
    "InvalidState",
    "Opcode",
    "CloseCode",
    "Frame",
    "Protocol",
    "Side",
    "State",
    "SERVER",
    "CLIENT",
    "TextMessage",
    "BinaryMessage",
    "Ping",
    "Pong",
    "Close",
    "WSocketApp",
    "Response",
    "HTTPError",
    "abort",
    "json_response",
    "redirect",
    "logger",
    "Request",
    "RequestError",
    "BadRequest",
    "RequestTooLarge",
    "MultiDict",
    "UploadedFile",
    "StaticFiles",
    "StaticResponse",
    "serve_static",
]
