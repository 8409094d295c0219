"""The WebSocket client: :func:`connect` opens a ``ws://`` or ``wss://`` URL.

It performs the opening handshake (:class:`~wsocket.handshake.ClientHandshake`)
over a blocking socket and returns the same :class:`~wsocket.connection.WebSocket`
object servers use, in the client role. It runs on plain threads, and on gevent
when the socket module is monkey-patched.
"""

from __future__ import annotations

import socket
import ssl as ssl_module
import time
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from .connection import WebSocket
from .deflate import DeflateOptions
from .exceptions import HandshakeError
from .handshake import ClientHandshake, ClientHandshakeResult, parse_ws_url
from .protocol import CLIENT, Protocol

__all__ = ["connect", "Compression"]

#: What ``compression=`` accepts: ``True`` or ``"deflate"`` for the default
#: permessage-deflate settings, a :class:`~wsocket.deflate.DeflateOptions`,
#: or ``None``/``False`` for no compression.
Compression = Union[bool, str, DeflateOptions, None]


def deflate_options(compression: Compression) -> Optional[DeflateOptions]:
    """Turn a ``compression=`` argument into :class:`DeflateOptions` or ``None``.

    Raises:
        ValueError: for anything else than the documented values.
    """
    if compression is None or compression is False:
        return None
    if compression is True or compression == "deflate":
        return DeflateOptions()
    if isinstance(compression, DeflateOptions):
        return compression
    raise ValueError(
        f"compression={compression!r} is not supported; use 'deflate', True, "
        "False/None, or a wsocket.DeflateOptions"
    )


def connect(
    url: str,
    *,
    subprotocols: Sequence[str] = (),
    headers: Optional[Union[Sequence[Tuple[str, str]], Mapping[str, str]]] = None,
    compression: Compression = "deflate",
    timeout: Optional[float] = 10.0,
    ssl: Optional[ssl_module.SSLContext] = None,
    origin: Optional[str] = None,
    max_message_size: Optional[int] = 2**20,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = None,
    close_timeout: float = 10.0,
    sock: Optional[socket.socket] = None,
) -> WebSocket:
    """Open a WebSocket connection to ``url`` and return it once open.

    Example::

        ws = wsocket.connect("ws://127.0.0.1:8080/echo")
        ws.send("hello")
        print(ws.receive())
        ws.close()

    Args:
        url: ``ws://host[:port]/path[?query]`` or ``wss://...``.
        subprotocols: subprotocols to offer, most preferred first; the
            server's choice is in :attr:`WebSocket.subprotocol`.
        headers: extra request headers, e.g. ``{"Authorization": "..."}``.
        compression: ``"deflate"`` (default) offers permessage-deflate,
            ``None`` offers nothing, or pass :class:`DeflateOptions`.
        timeout: seconds allowed for TCP connect, TLS and the handshake.
        ssl: the TLS context for ``wss://``; defaults to
            :func:`ssl.create_default_context` (certificates verified).
        origin: an ``Origin`` header to send.
        max_message_size: largest message accepted from the server (1009
            beyond it); ``None`` for no limit.
        ping_interval: seconds between keepalive pings, ``None`` for none.
        ping_timeout: seconds to wait for the server after a ping.
        close_timeout: seconds to wait for the closing handshake.
        sock: an already connected socket to use instead of opening one.

    Returns:
        An open :class:`~wsocket.connection.WebSocket` (client side).

    Raises:
        ValueError: for a URL that is not ``ws://`` or ``wss://``, or an
            invalid argument.
        HandshakeError: if the server refused the upgrade or answered
            wrongly (``status`` holds its HTTP status).
        TimeoutError: if the handshake did not finish within ``timeout``.
        OSError: if the TCP connection could not be made.
    """
    secure, host, port, resource = parse_ws_url(url)
    if ssl is not None and not secure:
        raise ValueError("ssl= is only for wss:// URLs")
    handshake = ClientHandshake(
        host=host,
        port=port,
        resource=resource,
        secure=secure,
        subprotocols=subprotocols,
        headers=headers,
        compression=deflate_options(compression),
        origin=origin,
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    own_socket = sock is None
    if sock is None:
        sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.settimeout(timeout)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secure:
            context = ssl if ssl is not None else ssl_module.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=host)
        result = _handshake(sock, handshake, deadline)
        sock.settimeout(None)
    except BaseException:
        if own_socket:
            sock.close()
        raise
    protocol = Protocol(
        CLIENT, max_message_size=max_message_size, deflate=result.deflate
    )
    return WebSocket(
        sock,
        protocol,
        subprotocol=result.subprotocol,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
        extra=result.extra,
    )


def _handshake(
    sock: Any, handshake: ClientHandshake, deadline: Optional[float]
) -> ClientHandshakeResult:
    sock.sendall(handshake.request_bytes())
    while True:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out during the opening handshake")
            sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("timed out during the opening handshake") from None
        if not data:
            raise HandshakeError(
                "the server closed the connection during the opening handshake",
                status=0,
            )
        result = handshake.receive_data(data)
        if result is not None:
            return result
