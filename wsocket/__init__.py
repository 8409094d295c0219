"""wsocket: a WSGI application framework with first-class WebSocket support.

The names most programs need are importable from here::

    import wsocket

    ws = wsocket.connect("ws://127.0.0.1:8080/echo")

Everything re-exported here is public and documented; anything else in the
package is private unless its module's ``__all__`` names it.
"""

from __future__ import annotations

from .client import connect
from .connection import WebSocket
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
from .middleware import WebSocketMiddleware
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
from .server import WSGIServer, make_server, run

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
]
