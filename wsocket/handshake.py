"""The WebSocket opening handshake, both sides (RFC 6455 section 4).

This module is sans-I/O: it never touches a socket.

Server side
    A WSGI server has already parsed the HTTP request, so
    :func:`server_handshake` validates a PEP 3333 ``environ`` as
    `RFC 6455 section 4.2.1`_ requires and returns the headers of the
    ``101 Switching Protocols`` response together with what was negotiated
    (subprotocol, permessage-deflate). Every failure raises
    :class:`~wsocket.exceptions.HandshakeError` whose ``status``, ``reason``
    and ``headers`` describe the error response; :func:`reject_response`
    turns it into a WSGI status line, headers and body.

Client side
    :class:`ClientHandshake` builds the request bytes and then consumes the
    server's response bytes as they arrive from the network, validating the
    response as `RFC 6455 section 4.1`_ requires. The bytes that follow the
    response head (the first WebSocket frames, when the server was quick)
    are returned in :attr:`ClientHandshakeResult.extra`: hand them to the
    protocol before anything read later.

.. _RFC 6455 section 4.1: https://www.rfc-editor.org/rfc/rfc6455#section-4.1
.. _RFC 6455 section 4.2.1: https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1
"""

from __future__ import annotations

import base64
import binascii
import functools
import http
import ipaddress
import logging
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import (
    Any,
    Callable,
    List,
    Optional,
    Tuple,
    Union,
)

from .deflate import (
    DeflateOptions,
    PerMessageDeflate,
    client_accept,
    client_offer,
    server_negotiate,
)
from .exceptions import HandshakeError, InvalidState, NegotiationError
from .headers import (
    build_extensions,
    build_token_list,
    is_token,
    parse_extensions,
    parse_token_list,
    parse_upgrade,
)
from .http11 import HTTPParseError, Limits, ResponseHead, ResponseReader
from .utils import accept_key, generate_key

__all__ = [
    "is_upgrade_request",
    "ANY_ORIGIN",
    "Origins",
    "check_origins",
    "check_trusted_proxies",
    "request_host",
    "request_origin",
    "ServerHandshake",
    "server_handshake",
    "reject_response",
    "parse_ws_url",
    "ClientHandshake",
    "ClientHandshakeResult",
    "SUPPORTED_VERSIONS",
]

logger = logging.getLogger("wsocket.server")

#: The protocol version clients send (RFC 6455 section 4.1).
_VERSION = "13"
#: The versions a server accepts, newest first. 13 is RFC 6455; 8 and 7 are
#: the hybi-07/08 drafts, whose framing is the same.
SUPPORTED_VERSIONS = ("13", "8", "7")

_DEFAULT_PORTS = {False: 80, True: 443}

# Headers that ClientHandshake writes itself: a caller setting them would
# produce a request whose negotiation the client could not follow.
_RESERVED_REQUEST_HEADERS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    }
)

# Characters forbidden in a header value we send: CR and LF would split the
# header (request smuggling), NUL is rejected by most servers.
_FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")

_SERVER_PROTOCOL = re.compile(r"HTTP/([0-9]+)\.([0-9]+)")

# Characters kept as they are when a resource is percent-encoded: RFC 3986
# unreserved and reserved characters, plus "%" for already encoded input.
_URL_SAFE = "!$&'()*+,;=:@/?~-._%"


# --------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------


def is_upgrade_request(environ: Mapping[str, Any]) -> bool:
    """Tell whether a WSGI request asks for a WebSocket upgrade.

    This is a cheap pre-check for middleware: it only looks for the token
    ``websocket`` (case-insensitive) in the ``Upgrade`` header and never
    raises. Call :func:`server_handshake` to validate the request.

    Args:
        environ: the PEP 3333 environ of the request.

    Returns:
        ``True`` if the ``Upgrade`` header lists ``websocket``.
    """
    value = environ.get("HTTP_UPGRADE")
    if not isinstance(value, str):
        return False
    return any(
        element.strip(" \t").lower() == "websocket" for element in value.split(",")
    )


@dataclass
class ServerHandshake:
    """An accepted opening handshake, as :func:`server_handshake` returns it.

    Attributes:
        headers: the headers of the ``101 Switching Protocols`` response:
            ``Upgrade``, ``Connection``, ``Sec-WebSocket-Accept``, then
            ``Sec-WebSocket-Protocol`` and ``Sec-WebSocket-Extensions`` when
            something was negotiated.
        subprotocol: the selected subprotocol, or ``None``.
        deflate: the negotiated permessage-deflate extension, or ``None``
            when the connection is not compressed.
        key: the client's ``Sec-WebSocket-Key``.
    """

    headers: List[Tuple[str, str]]
    subprotocol: Optional[str]
    deflate: Optional[PerMessageDeflate]
    key: str


def _safe(value: str, limit: int = 40) -> str:
    """Return ``value`` for use in a reason shown to the peer, or a stand-in."""
    if len(value) <= limit and value.isascii() and value.isprintable():
        return value
    return "(not shown)"


def _bad_request(reason: str) -> HandshakeError:
    return HandshakeError(reason, 400)


def _upgrade_required(reason: str) -> HandshakeError:
    # RFC 6455 section 4.2.2: for a version it does not understand, the
    # server sends an error such as 426 Upgrade Required with a
    # |Sec-WebSocket-Version| header listing the versions it speaks (see
    # also section 4.4). RFC 7231 section 6.5.15: a 426 response "MUST send
    # an Upgrade header field".
    return HandshakeError(
        reason,
        426,
        [
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", ", ".join(SUPPORTED_VERSIONS)),
        ],
    )


#: The ``origins`` value that allows WebSockets from pages on any site.
ANY_ORIGIN = "*"

#: What ``origins`` may be: ``None`` (same origin only, the default),
#: ``"*"``, or a list of origins, ``https://*.example.com`` patterns and
#: ``None`` (for clients that send no ``Origin``).
Origins = Union[str, Sequence[Optional[str]], None]

_LABELS = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")
_ORIGIN_DEFAULT_PORTS = (80, 443)


def check_origins(origins: Origins) -> Optional[Tuple[Optional[str], ...]]:
    """Validate an ``origins`` option; return it as a tuple (``None``, ``"*"`` kept).

    Raises:
        ValueError: for a string other than ``"*"``, an entry that is not a
            string or ``None``, or a pattern whose ``*`` is not a whole
            left-most label (``https://*.example.com``).
    """
    if origins is None:
        return None
    if isinstance(origins, str):
        if origins != ANY_ORIGIN:
            raise ValueError(
                f"origins={origins!r}: pass '*' to allow every origin, or a list "
                f"such as [{origins!r}]"
            )
        return (ANY_ORIGIN,)
    result = tuple(origins)
    for entry in result:
        if entry is None:
            continue
        if not isinstance(entry, str):
            raise ValueError(f"origins: {entry!r} is neither a string nor None")
        if "*" in entry and entry != ANY_ORIGIN:
            scheme, sep, rest = entry.partition("://")
            if not sep or not rest.startswith("*.") or "*" in rest[1:] or not scheme:
                raise ValueError(
                    f"origins: bad pattern {entry!r}; a pattern looks like "
                    "'https://*.example.com', with '*' for the left-most labels"
                )
    return result


def _match_origin(origin: str, allowed: str) -> bool:
    # An origin is "scheme://host[:port]" or "null" (RFC 6454 section 6.1);
    # scheme and host are case-insensitive and the port is digits, so
    # comparing lowercased strings is comparing origins.
    if allowed == ANY_ORIGIN:
        return True
    allowed = allowed.lower()
    if "*" not in allowed:
        return origin == allowed
    prefix, _, suffix = allowed.partition("*")
    if len(origin) <= len(prefix) + len(suffix):
        return False
    if not origin.startswith(prefix) or not origin.endswith(suffix):
        return False
    labels = origin[len(prefix) : len(origin) - len(suffix)]
    return _LABELS.fullmatch(labels) is not None


def _origin_allowed(origin: Optional[str], origins: Sequence[Optional[str]]) -> bool:
    if origin is None:
        return None in origins or ANY_ORIGIN in origins
    wanted = origin.lower()
    return any(
        allowed is not None and _match_origin(wanted, allowed) for allowed in origins
    )


def _authority(text: str) -> Optional[Tuple[str, Optional[int]]]:
    """``host[:port]`` as ``(host, port)``; default ports (80, 443) give ``None``."""
    text = text.strip(" \t").lower()
    if text.startswith("["):  # an IPv6 literal
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        host, _, port_text = text.partition(":")
    if not host or any(c in host for c in "/@?#\\ "):
        return None
    port: Optional[int] = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    if port in _ORIGIN_DEFAULT_PORTS:
        port = None
    return host.rstrip("."), port


def _origin_authority(origin: str) -> Optional[Tuple[str, Optional[int]]]:
    scheme, sep, rest = origin.partition("://")
    if not sep or not scheme or "/" in rest:
        return None  # "null", or not an origin at all
    return _authority(rest)


@functools.lru_cache(maxsize=64)
def _proxy_networks(
    proxies: Tuple[str, ...],
) -> Tuple[Union[ipaddress.IPv4Network, ipaddress.IPv6Network], ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def check_trusted_proxies(proxies: Sequence[str]) -> Tuple[str, ...]:
    """Validate a ``trusted_proxies`` option: addresses or networks (``10.0.0.0/8``).

    Raises:
        ValueError: for an entry that is not an IP address or network.
    """
    if isinstance(proxies, str):
        proxies = [proxies]
    result = tuple(proxies)
    for proxy in result:
        try:
            _proxy_networks((str(proxy),))
        except ValueError:
            raise ValueError(
                f"trusted_proxies: {proxy!r} is not an IP address or network "
                "(such as '10.0.0.1' or '10.0.0.0/8')"
            ) from None
    return result


def _trusted(address: Any, proxies: Sequence[str]) -> bool:
    if not proxies or not address:
        return False
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in network for network in _proxy_networks(tuple(proxies)))


def request_host(
    environ: Mapping[str, Any], trusted_proxies: Sequence[str] = ()
) -> str:
    """The host a client addressed: ``Host``, or ``X-Forwarded-Host`` from a proxy.

    ``X-Forwarded-Host`` counts only when the request comes from an address
    in ``trusted_proxies`` (anyone else could send it); its first value is
    the host the client asked the first proxy for.
    """
    forwarded = environ.get("HTTP_X_FORWARDED_HOST")
    if forwarded and _trusted(environ.get("REMOTE_ADDR"), trusted_proxies):
        return str(forwarded).split(",", 1)[0].strip(" \t")
    return str(environ.get("HTTP_HOST") or "")


def request_origin(environ: Mapping[str, Any]) -> Optional[str]:
    """The origin of the page that opened the WebSocket, if a browser says it.

    ``Origin`` (RFC 6454, RFC 6455 section 4.1), or ``Sec-WebSocket-Origin``
    from clients of the hybi-07/08 drafts when ``Origin`` is absent.
    """
    value = environ.get("HTTP_ORIGIN")
    if value is None and (
        str(environ.get("HTTP_SEC_WEBSOCKET_VERSION", "")).strip(" \t") != _VERSION
    ):
        value = environ.get("HTTP_SEC_WEBSOCKET_ORIGIN")
    return None if value is None else str(value)


def _check_origin_policy(
    environ: Mapping[str, Any],
    origins: Optional[Sequence[Optional[str]]],
    check_origin: Optional[Callable[[Optional[str]], bool]],
    trusted_proxies: Sequence[str],
) -> None:
    # RFC 6455 section 10.2: "servers that are not intended to process input
    # from any web page but only for certain sites SHOULD verify the |Origin|
    # field is an origin they expect." Browsers always send it, and a page
    # cannot forge it; non-browser clients may send anything, or nothing.
    origin = request_origin(environ)
    if origins is not None:
        if isinstance(origins, str):
            origins = check_origins(origins)
        assert origins is not None
        if not _origin_allowed(origin, origins):
            if origin is None:
                raise HandshakeError("missing Origin header", 403)
            _log_refusal(origin, "it is not in origins")
            raise HandshakeError("origin not allowed", 403)
    elif check_origin is None and origin is not None:
        host = request_host(environ, trusted_proxies)
        own = _authority(host)
        theirs = _origin_authority(origin.lower())
        if own is None or theirs is None or own != theirs:
            _log_refusal(
                origin, f"it is not the host the request was sent to ({host!r})"
            )
            raise HandshakeError("origin not allowed", 403)
    if check_origin is not None and not check_origin(origin):
        raise HandshakeError("origin not allowed", 403)


def _log_refusal(origin: str, why: str) -> None:
    logger.warning(
        "refused a WebSocket handshake with Origin %r: %s. If pages from that "
        "site may open WebSockets here, allow it with origins=[%r] (or a "
        "pattern such as 'https://*.example.com', or '*' for any site) on the "
        "middleware, the app or the route; behind a proxy that rewrites Host, "
        "list the proxy in trusted_proxies so that X-Forwarded-Host counts",
        origin,
        why,
        origin,
    )


# The Connection values browsers and most clients send, accepted without
# parsing the list.
_PLAIN_CONNECTION = frozenset(("upgrade", "keep-alive, upgrade"))


def server_handshake(
    environ: Mapping[str, Any],
    *,
    subprotocols: Sequence[str] = (),
    compression: Optional[DeflateOptions] = DeflateOptions(),  # noqa: B008 (frozen)
    origins: Origins = None,
    check_origin: Optional[Callable[[Optional[str]], bool]] = None,
    trusted_proxies: Sequence[str] = (),
) -> ServerHandshake:
    """Validate a WebSocket upgrade request and negotiate the connection.

    The checks follow `RFC 6455 section 4.2.1
    <https://www.rfc-editor.org/rfc/rfc6455#section-4.2.1>`_, in this order:
    method, HTTP version, ``Host``, ``Upgrade``, ``Connection``,
    ``Sec-WebSocket-Version``, ``Sec-WebSocket-Key``, origin. The version is
    checked before the key so that clients of an older protocol draft learn
    which version the server speaks (section 4.4).

    Then it selects a subprotocol and negotiates permessage-deflate
    (`RFC 7692 <https://www.rfc-editor.org/rfc/rfc7692>`_). Neither is an
    error when nothing is agreed; unknown extensions are ignored.

    Args:
        environ: the PEP 3333 environ of the request. Repeated headers must
            already be joined with commas, as WSGI servers do.
        subprotocols: the subprotocols the application supports, most
            preferred first. The first one the client also offered wins.
        compression: the permessage-deflate settings, or ``None`` to never
            compress.
        origins: ``None`` (the default) allows a request whose ``Origin``
            (``Sec-WebSocket-Origin`` for hybi-07/08 clients) names the
            host the request was sent to (host and port, default ports
            normalised, scheme not compared), or that has none; ``"*"``
            allows any; a list allows exactly its origins and
            ``https://*.example.com`` patterns, plus requests without
            ``Origin`` if it holds ``None``. Scheme and host compare
            case-insensitively. See :ref:`origin-policy`.
        check_origin: if given, called with the origin (or ``None``);
            returning ``False`` rejects the request. It applies after
            ``origins`` when that is a list, and instead of the same-origin
            check when ``origins`` is ``None``.
        trusted_proxies: addresses or networks of proxies whose
            ``X-Forwarded-Host`` names the host the client asked for.

    Returns:
        the response headers and the negotiated parameters.

    Raises:
        HandshakeError: the request is not an acceptable WebSocket
            handshake; ``status`` is 400, 403 (origin) or 426 (version,
            with ``Sec-WebSocket-Version: 13`` in ``headers``).
        NegotiationError: raised by the deflate negotiation, if it cannot
            decline a broken offer.
    """
    # 4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    method = str(environ.get("REQUEST_METHOD", ""))
    if method != "GET":
        raise _bad_request(
            f"unsupported method {_safe(method)}: a WebSocket handshake uses GET"
        )
    version = str(environ.get("SERVER_PROTOCOL", ""))
    match = _SERVER_PROTOCOL.fullmatch(version)
    if match is None or (int(match.group(1)), int(match.group(2))) < (1, 1):
        raise _bad_request(
            f"unsupported HTTP version {_safe(version) if version else '(none)'}:"
            f" a WebSocket handshake needs HTTP/1.1 or later"
        )

    # 4.2.1 item 2: "A |Host| header field containing the server's
    # authority."
    if not environ.get("HTTP_HOST"):
        raise _bad_request("missing Host header")

    # 4.2.1 item 3: "An |Upgrade| header field containing the value
    # "websocket", treated as an ASCII case-insensitive value."
    upgrade = environ.get("HTTP_UPGRADE")
    if not upgrade:
        raise _bad_request("missing Upgrade header")
    upgrade = str(upgrade)
    if upgrade.lower() != "websocket":  # what every client sends
        try:
            protocols = parse_upgrade(upgrade)
        except ValueError as exc:
            raise _bad_request(f"invalid Upgrade header: {exc}") from exc
        if not any(protocol.lower() == "websocket" for protocol in protocols):
            raise _bad_request("Upgrade header must include websocket")

    # 4.2.1 item 4: "A |Connection| header field that includes the token
    # "Upgrade", treated as an ASCII case-insensitive value."
    connection = environ.get("HTTP_CONNECTION")
    if not connection:
        raise _bad_request("missing Connection header")
    connection = str(connection)
    if connection.lower() not in _PLAIN_CONNECTION:
        try:
            options = parse_token_list(connection)
        except ValueError as exc:
            raise _bad_request(f"invalid Connection header: {exc}") from exc
        if not any(option.lower() == "upgrade" for option in options):
            raise _bad_request("Connection header must include Upgrade")

    # 4.2.1 item 6: "A |Sec-WebSocket-Version| header field, with a value of
    # 13." Section 4.4 says how to answer other versions: 426 with the
    # versions we support. The hybi-07 and -08 drafts (versions 7 and 8)
    # frame exactly as 13 does, and are still sent by a few old clients.
    ws_version = environ.get("HTTP_SEC_WEBSOCKET_VERSION")
    if ws_version is None:
        raise _upgrade_required("missing Sec-WebSocket-Version header")
    ws_version = str(ws_version).strip(" \t")
    if ws_version not in SUPPORTED_VERSIONS:
        raise _upgrade_required(
            f"unsupported Sec-WebSocket-Version {_safe(ws_version)}:"
            f" this server supports {', '.join(SUPPORTED_VERSIONS)}"
        )

    # 4.2.1 item 5: "A |Sec-WebSocket-Key| header field with a base64-encoded
    # [...] value that, when decoded, is 16 bytes in length." Section 11.3.1: it
    # "MUST NOT appear more than once in an HTTP request"; WSGI joins
    # repeated fields with commas, which base64 never contains.
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY")
    if key is None or not str(key).strip(" \t"):
        raise _bad_request("missing Sec-WebSocket-Key header")
    key = str(key).strip(" \t")
    if "," in key:
        raise _bad_request("more than one Sec-WebSocket-Key header")
    try:
        raw_key = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw_key = b""
    if len(key) != 24 or len(raw_key) != 16:
        raise _bad_request(
            "invalid Sec-WebSocket-Key header: must be 16 bytes in base64"
        )

    # 4.2.1 item 7 and section 10.2: the Origin header protects against
    # cross-site WebSocket requests from browsers.
    _check_origin_policy(environ, origins, check_origin, trusted_proxies)

    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]

    # 4.2.2: the server selects one of the values the client listed in
    # Sec-WebSocket-Protocol, or none; which one is the server's choice, so
    # the application's order of preference decides.
    subprotocol = None
    offered_value = environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL")
    if offered_value is not None:
        try:
            offered = parse_token_list(str(offered_value))
        except ValueError as exc:
            raise _bad_request(f"invalid Sec-WebSocket-Protocol header: {exc}") from exc
        for candidate in subprotocols:
            if candidate in offered:
                subprotocol = candidate
                headers.append(("Sec-WebSocket-Protocol", subprotocol))
                break

    # 4.2.2 item 5.5 and RFC 7692 section 5: answer at most one
    # permessage-deflate offer; other extensions are not supported and are
    # left out of the response, which declines them.
    deflate = None
    extensions_value = environ.get("HTTP_SEC_WEBSOCKET_EXTENSIONS")
    if extensions_value is not None:
        try:
            extensions = parse_extensions(str(extensions_value))
        except ValueError as exc:
            raise _bad_request(
                f"invalid Sec-WebSocket-Extensions header: {exc}"
            ) from exc
        offers = [
            params
            for name, params in extensions
            if name.lower() == PerMessageDeflate.name
        ]
        if compression is not None and offers:
            negotiated = server_negotiate(offers, compression)
            if negotiated is not None:
                response_params, deflate = negotiated
                headers.append(
                    (
                        "Sec-WebSocket-Extensions",
                        build_extensions([(PerMessageDeflate.name, response_params)]),
                    )
                )

    return ServerHandshake(
        headers=headers, subprotocol=subprotocol, deflate=deflate, key=key
    )


def _status_line(status: int) -> str:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"{status} {phrase}"


def reject_response(
    error: HandshakeError, *, hop_by_hop: bool = True
) -> Tuple[str, List[Tuple[str, str]], bytes]:
    """Build the HTTP response that refuses a failed handshake.

    Args:
        error: the error raised by :func:`server_handshake`.
        hop_by_hop: include the hop-by-hop headers ``Connection`` and
            ``Upgrade``. PEP 3333 forbids applications to set them, and some
            servers enforce it (``wsgiref`` asserts, ``waitress`` raises);
            pass ``False`` for those. Servers that let applications set
            them (wsocket's own, gunicorn, gevent, werkzeug) close the
            connection after a ``Connection: close`` response.

    Returns:
        ``(status, headers, body)`` ready for WSGI ``start_response``: a
        status line such as ``"426 Upgrade Required"``; ``Content-Type``,
        ``Content-Length`` and ``Connection: close`` followed by
        ``error.headers`` (any of those three among them are dropped); and
        the reason as UTF-8 text with a final newline. When ``error.headers``
        holds ``Upgrade`` (a 426), ``Connection`` is ``Upgrade, close``.
    """
    body = (error.reason + "\n").encode("utf-8")
    extra = [
        (name, value)
        for name, value in error.headers
        if name.lower() not in ("content-type", "content-length", "connection")
        and (hop_by_hop or name.lower() != "upgrade")
    ]
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    if hop_by_hop:
        # RFC 7230 section 6.7: "A sender of Upgrade MUST also send an
        # "Upgrade" connection option in the Connection header field".
        sends_upgrade = any(name.lower() == "upgrade" for name, _ in extra)
        headers.append(("Connection", "Upgrade, close" if sends_upgrade else "close"))
    headers.extend(extra)
    return _status_line(error.status), headers, body


# --------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------


def _normalize_host(host: str) -> str:
    """Validate a host name or IP literal and return it in ASCII."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise ValueError("empty host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid host name {host!r}") from exc
    if any(char in host for char in " \t\r\n\x00/?#@[]\\") or not host.isprintable():
        raise ValueError(f"invalid host name {host!r}")
    return host


def _format_host(host: str, port: int, secure: bool) -> str:
    # RFC 6455 section 4.1 item 4: the Host header holds the host, and the
    # port when it is not the default one; an IPv6 literal is bracketed
    # (RFC 3986 section 3.2.2).
    literal = f"[{host}]" if ":" in host else host
    if port == _DEFAULT_PORTS[secure]:
        return literal
    return f"{literal}:{port}"


def parse_ws_url(url: str) -> Tuple[bool, str, int, str]:
    """Split a WebSocket URL (RFC 6455 section 3) into its parts.

    Args:
        url: a ``ws://`` or ``wss://`` URL, e.g. ``"wss://example.com/chat"``.

    Returns:
        ``(secure, host, port, resource)``: ``secure`` is ``True`` for
        ``wss``; ``host`` is lowercased, without the brackets of an IPv6
        literal, IDNA-encoded if needed; ``port`` defaults to 80 or 443;
        ``resource`` is the path (``"/"`` when empty) plus the query,
        percent-encoded where needed.

    Raises:
        ValueError: for another scheme ("use ws:// or wss://"), a fragment
            (section 3: "Fragment identifiers are meaningless in the context
            of WebSocket URIs and MUST NOT be used"), user info, a missing
            host or an invalid port.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError(
            f"unsupported URL scheme {parts.scheme!r}: use ws:// or wss://"
        )
    secure = scheme == "wss"
    # Any "#" starts a fragment: section 3 requires it to be escaped as %23
    # everywhere else.
    if "#" in url:
        raise ValueError(
            "WebSocket URLs must not contain a fragment (RFC 6455 section 3)"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "WebSocket URLs must not contain user info; send an Authorization "
            "header instead"
        )
    if not parts.hostname:
        raise ValueError(f"URL {url!r} has no host")
    host = _normalize_host(parts.hostname)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid port in URL {url!r}") from exc
    if port is None:
        port = _DEFAULT_PORTS[secure]
    if port == 0:
        raise ValueError(f"invalid port in URL {url!r}")
    resource = parts.path or "/"
    if parts.query:
        resource = f"{resource}?{parts.query}"
    resource = urllib.parse.quote(resource, safe=_URL_SAFE)
    return secure, host, port, resource


def _check_value(name: str, value: str) -> None:
    if _FORBIDDEN_IN_VALUE.search(value):
        raise ValueError(f"header {name!r} contains CR, LF or NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"header {name!r} is not ISO-8859-1 text") from exc


@dataclass
class ClientHandshakeResult:
    """A successful opening handshake, seen from the client.

    Attributes:
        status: the response status, always 101.
        headers: the response headers, in order, names as received.
        subprotocol: the subprotocol the server selected, or ``None``.
        deflate: the negotiated permessage-deflate extension, or ``None``.
        extra: the bytes received after the response head. They are the
            start of the WebSocket stream and must be fed to the protocol
            before anything read later.
    """

    status: int
    headers: List[Tuple[str, str]]
    subprotocol: Optional[str]
    deflate: Optional[PerMessageDeflate]
    extra: bytes


class ClientHandshake:
    """The client side of the opening handshake, without I/O.

    Send :meth:`request_bytes`, then feed what the server answers to
    :meth:`receive_data` until it returns a :class:`ClientHandshakeResult`.

    Give either ``url`` or the parts ``host``, ``port``, ``resource`` and
    ``secure``::

        ClientHandshake("wss://example.com/chat?room=1")
        ClientHandshake(host="example.com", port=443, resource="/chat", secure=True)

    Attributes:
        key: the ``Sec-WebSocket-Key`` of this handshake.
        secure: ``True`` for ``wss``.
        host: the host, without IPv6 brackets.
        port: the TCP port.
        resource: the request target, e.g. ``"/chat?room=1"``.
        subprotocols: the offered subprotocols.
        compression: the permessage-deflate settings offered, or ``None``.
        origin: the ``Origin`` header sent, or ``None``.
        headers: the extra request headers.
        max_response_size: the largest response head accepted, in bytes.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        resource: Optional[str] = None,
        secure: Optional[bool] = None,
        subprotocols: Sequence[str] = (),
        headers: Optional[Union[Sequence[Tuple[str, str]], Mapping[str, str]]] = None,
        compression: Optional[DeflateOptions] = DeflateOptions(),  # noqa: B008 (frozen)
        origin: Optional[str] = None,
        max_response_size: int = 64 * 1024,
    ) -> None:
        """Prepare a handshake.

        Args:
            url: a ``ws://`` or ``wss://`` URL; see :func:`parse_ws_url`.
            host: the server's host name or IP address (without ``url``).
            port: the server's port; defaults to 80, or 443 when secure.
            resource: the request target; defaults to ``"/"``.
            secure: whether the connection uses TLS (``wss``); defaults to
                ``False``.
            subprotocols: subprotocols to offer, most preferred first.
            headers: extra request headers, e.g. ``Authorization``. A
                ``Host`` header replaces the computed one. The headers the
                handshake itself negotiates (``Upgrade``, ``Connection``,
                ``Sec-WebSocket-*``) cannot be set.
            compression: permessage-deflate settings to offer, or ``None``
                to not offer compression.
            origin: the ``Origin`` header to send, if any.
            max_response_size: security limit: the largest response head
                (status line and headers) accepted, in bytes.

        Raises:
            ValueError: conflicting or invalid arguments: both ``url`` and
                parts, a bad URL, host, port or resource, a subprotocol that
                is not a token, a header name that is not a token, a value
                with CR, LF, NUL or characters outside ISO-8859-1, or a
                reserved header.
        """
        if url is not None:
            if (
                host is not None
                or port is not None
                or resource is not None
                or (secure is not None)
            ):
                raise ValueError("give either url or host/port/resource/secure")
            secure, host, port, resource = parse_ws_url(url)
        else:
            if host is None:
                raise ValueError("give url or host")
            secure = bool(secure)
            host = _normalize_host(host)
            if port is None:
                port = _DEFAULT_PORTS[secure]
            if resource is None:
                resource = "/"
        if not 0 < port < 65536:
            raise ValueError(f"invalid port {port}")
        if not resource.startswith("/") or any(
            not ("\x21" <= char <= "\x7e") for char in resource
        ):
            raise ValueError(
                f"invalid resource {resource!r}: must start with / and be "
                f"percent-encoded ASCII"
            )
        if max_response_size <= 0:
            raise ValueError("max_response_size must be positive")

        self.secure: bool = secure
        self.host: str = host
        self.port: int = port
        self.resource: str = resource
        self.subprotocols: List[str] = list(subprotocols)
        self.compression = compression
        self.origin = origin
        self.max_response_size = max_response_size
        self.key: str = generate_key()

        build_token_list(self.subprotocols)  # validates
        if origin is not None:
            _check_value("Origin", origin)
        items = (
            list(headers.items())
            if isinstance(headers, Mapping)
            else list(headers or ())
        )
        for name, value in items:
            if not is_token(name):
                raise ValueError(f"invalid header name {name!r}")
            lowered = name.lower()
            if lowered in _RESERVED_REQUEST_HEADERS:
                raise ValueError(
                    f"header {name!r} is set by the handshake; use the "
                    f"subprotocols or compression arguments instead"
                )
            if lowered == "origin" and origin is not None:
                raise ValueError("Origin given both as header and as origin")
            _check_value(name, value)
        self.headers: List[Tuple[str, str]] = items

        self._buffer = bytearray()
        self._reader = ResponseReader(Limits(max_head_size=max_response_size))
        self._done = False

    def request_bytes(self) -> bytes:
        """Serialize the handshake request (RFC 6455 section 4.1).

        Returns:
            the request head, ending with an empty line.
        """
        host_header = _format_host(self.host, self.port, self.secure)
        user_headers = []
        for name, value in self.headers:
            if name.lower() == "host":
                host_header = value
            else:
                user_headers.append((name, value))
        lines = [
            f"GET {self.resource} HTTP/1.1",
            f"Host: {host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key}",
            f"Sec-WebSocket-Version: {_VERSION}",
        ]
        if self.subprotocols:
            lines.append(
                f"Sec-WebSocket-Protocol: {build_token_list(self.subprotocols)}"
            )
        if self.compression is not None:
            offer = build_extensions(
                [(PerMessageDeflate.name, client_offer(self.compression))]
            )
            lines.append(f"Sec-WebSocket-Extensions: {offer}")
        if self.origin is not None:
            lines.append(f"Origin: {self.origin}")
        lines.extend(f"{name}: {value}" for name, value in user_headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def receive_data(self, data: bytes) -> Optional[ClientHandshakeResult]:
        """Feed bytes received from the server.

        Args:
            data: the next bytes read from the connection, any amount.

        Returns:
            ``None`` while the response head is incomplete, then the result
            of the handshake. Bytes that came after the head are in
            :attr:`ClientHandshakeResult.extra`.

        Raises:
            HandshakeError: the handshake failed. ``status`` is the status
                the server sent (101 when it accepted but its headers are
                wrong), or 0 when no valid status line was received.
                ``headers`` holds the response headers when they parsed.
            NegotiationError: the server selected a subprotocol or an
                extension that was not offered, or invalid extension
                parameters.
            InvalidState: the response was already processed.
        """
        if self._done:
            raise InvalidState("the handshake response was already processed")
        self._buffer += data
        reader = self._reader
        if reader.limits.max_head_size != self.max_response_size:
            reader.limits = replace(reader.limits, max_head_size=self.max_response_size)
        try:
            response = reader.read(self._buffer)
        except HTTPParseError as exc:
            self._done = True
            raise HandshakeError(exc.reason, exc.response_status or 0) from None
        if response is None:
            return None
        self._done = True
        extra = bytes(self._buffer)
        self._buffer = bytearray()
        return self._process_response(response, extra)

    def _process_response(
        self, response: ResponseHead, extra: bytes
    ) -> ClientHandshakeResult:
        status = response.status
        phrase = response.phrase
        headers = response.headers

        # 4.1: "If the status code received from the server is not 101, the
        # client handles the response per HTTP [RFC2616] procedures."
        if status != 101:
            raise HandshakeError(
                f"server rejected WebSocket connection: {status} {phrase}".rstrip(),
                status,
                headers,
            )
        if response.version < "HTTP/1.1":
            raise HandshakeError("101 response must be HTTP/1.1 or later", 101, headers)

        def fail(reason: str) -> HandshakeError:
            return HandshakeError(reason, 101, headers)

        def get_all(name: str) -> List[str]:
            return [value for key, value in headers if key.lower() == name]

        # 4.1 item 2: Upgrade must be an ASCII case-insensitive match for
        # "websocket".
        upgrade = get_all("upgrade")
        if not upgrade:
            raise fail("missing Upgrade header")
        try:
            protocols = parse_upgrade(", ".join(upgrade))
        except ValueError as exc:
            raise fail(f"invalid Upgrade header: {exc}") from exc
        if [protocol.lower() for protocol in protocols] != ["websocket"]:
            raise fail(f"invalid Upgrade header: {', '.join(upgrade)[:100]!r}")

        # 4.1 item 3: Connection must contain the token "Upgrade".
        connection = get_all("connection")
        if not connection:
            raise fail("missing Connection header")
        try:
            options = parse_token_list(", ".join(connection))
        except ValueError as exc:
            raise fail(f"invalid Connection header: {exc}") from exc
        if not any(option.lower() == "upgrade" for option in options):
            raise fail(f"invalid Connection header: {', '.join(connection)[:100]!r}")

        # 4.1 item 4: Sec-WebSocket-Accept must be the base64 SHA-1 of the key
        # and the GUID.
        accept = get_all("sec-websocket-accept")
        if not accept:
            raise fail("missing Sec-WebSocket-Accept header")
        if len(accept) > 1:
            raise fail("more than one Sec-WebSocket-Accept header")
        if accept[0] != accept_key(self.key):
            raise fail("Sec-WebSocket-Accept does not match the key")

        # 4.1 item 6: the subprotocol must be one the client offered.
        subprotocol = None
        selected = get_all("sec-websocket-protocol")
        if selected:
            try:
                chosen = parse_token_list(", ".join(selected))
            except ValueError as exc:
                raise fail(f"invalid Sec-WebSocket-Protocol header: {exc}") from exc
            if len(chosen) != 1:
                raise NegotiationError(
                    "server selected more than one subprotocol", 101, headers
                )
            if chosen[0] not in self.subprotocols:
                raise NegotiationError(
                    f"server selected subprotocol {chosen[0]!r}, which was not offered",
                    101,
                    headers,
                )
            subprotocol = chosen[0]

        # 4.1 item 5: every extension must be one the client offered.
        deflate = None
        accepted = get_all("sec-websocket-extensions")
        if accepted:
            try:
                extensions = parse_extensions(", ".join(accepted))
            except ValueError as exc:
                raise fail(f"invalid Sec-WebSocket-Extensions header: {exc}") from exc
            for name, params in extensions:
                if (
                    name.lower() != PerMessageDeflate.name
                    or self.compression is None
                    or deflate is not None
                ):
                    raise NegotiationError(
                        f"server accepted extension {name!r}, which was not offered",
                        101,
                        headers,
                    )
                deflate = client_accept(params, self.compression)

        return ClientHandshakeResult(
            status=status,
            headers=headers,
            subprotocol=subprotocol,
            deflate=deflate,
            extra=extra,
        )
