"""The exceptions wsocket raises, in one tree.

.. code-block:: text

    WebSocketError                    root: catch this to catch everything below
    ├── ConnectionClosed              the connection is closed (code, reason)
    │   ├── ConnectionClosedOK        ... cleanly: 1000, 1001 or no status code
    │   └── ConnectionClosedError     ... with an error code, or abnormally (1006)
    ├── ProtocolError                 the peer broke RFC 6455 / RFC 7692 (code)
    │   └── PayloadTooBig             a message exceeded max_message_size (1009)
    ├── HandshakeError                the opening handshake failed (status, reason)
    │   └── NegotiationError          an extension or subprotocol could not be agreed
    ├── InvalidState                  the API was used in a state that forbids it
    ├── HTTPParseError                bytes that are not valid HTTP/1.1 (status)
    └── RequestError                  an HTTP request the app cannot use (status)
        ├── BadRequest                ... malformed: JSON, form, body (400)
        └── RequestTooLarge           ... body over max_body_size (413)

:class:`~wsocket.http11.HTTPParseError` lives in :mod:`wsocket.http11`, the
request errors in :mod:`wsocket.request`. HTTP answers a handler
raises, :class:`wsocket.responses.HTTPError` and :func:`wsocket.abort`, are
responses rather than failures and stand outside this tree.

Errors caused by the peer carry the close code the connection is failed with
(:attr:`ProtocolError.code`). Errors caused by the caller are raised at once
and never reach the peer.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

__all__ = [
    "WebSocketError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "PayloadTooBig",
    "HandshakeError",
    "NegotiationError",
    "InvalidState",
]


class WebSocketError(Exception):
    """Base class of every exception raised by wsocket."""


class ConnectionClosed(WebSocketError):
    """The WebSocket connection is closed; nothing more can be sent.

    Attributes:
        code: the close code that says why (RFC 6455 section 7.1.5): the code
            the peer sent, or the code we failed the connection with, or 1006
            when the TCP connection dropped without a closing handshake.
        reason: the close reason, possibly empty.
    """

    def __init__(self, code: int = 1006, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        if self.reason:
            return f"connection closed: {self.code} {self.reason}"
        return f"connection closed: {self.code}"


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed cleanly (1000, 1001, or no status code)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed with an error code or dropped (1006)."""


class ProtocolError(WebSocketError):
    """The peer violated the WebSocket protocol.

    Attributes:
        code: the close code the connection is failed with: 1002 (protocol
            error), 1007 (invalid data, e.g. bad UTF-8), 1009 (too big).
    """

    def __init__(self, message: str, code: int = 1002) -> None:
        super().__init__(message)
        self.code = code


class PayloadTooBig(ProtocolError):
    """A message is larger than ``max_message_size`` allows (close code 1009)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 1009)


class HandshakeError(WebSocketError):
    """The opening handshake failed.

    On the server side the attributes describe the HTTP response to send; on
    the client side they describe the response that was received.

    Attributes:
        status: HTTP status code (400, 403, 426, ... or the server's status).
        reason: a human-readable explanation, safe to show the peer.
        headers: extra response headers (for example
            ``Sec-WebSocket-Version: 13`` with a 426).
    """

    def __init__(
        self,
        reason: str,
        status: int = 400,
        headers: Optional[List[Tuple[str, str]]] = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = list(headers or [])


class NegotiationError(HandshakeError):
    """An extension or a subprotocol could not be negotiated."""


class InvalidState(WebSocketError, AssertionError):
    """An operation was attempted in a state that forbids it.

    This is a bug in the calling code, not a fault of the peer: for example
    sending a frame after a close frame was sent.
    """
