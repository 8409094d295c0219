from __future__ import annotations

import base64
import io
import wsgiref.handlers
import wsgiref.validate
from collections.abc import Sequence
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import unquote

import h11
import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.http11 import Request as WebsocketsRequest
from websockets.http11 import Response as WebsocketsResponse
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri
from wsproto import ConnectionType, WSConnection
from wsproto import events as wsproto_events
from wsproto.extensions import PerMessageDeflate as WsprotoPerMessageDeflate
from wsproto.utilities import generate_accept_token

from wsocket.deflate import DeflateOptions
from wsocket.exceptions import HandshakeError, InvalidState, NegotiationError
from wsocket.handshake import (
    ClientHandshake,
    ClientHandshakeResult,
    ServerHandshake,
    check_origins,
    check_trusted_proxies,
    is_upgrade_request,
    parse_ws_url,
    reject_response,
    server_handshake,
)
from wsocket.headers import parse_extensions
from wsocket.utils import accept_key

Environ = Dict[str, Any]

# RFC 6455 section 1.3 / 4.2.2: the sample key and its accept value.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# The client handshake of RFC 6455 section 1.2, with the Origin of 4.1.
RFC_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


# Helpers: a WSGI server's view of a request, built with h11.


def environ_from_request(data: bytes) -> Environ:
    """Parse request bytes with h11 and build the environ a WSGI server would."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    request = conn.next_event()
    assert isinstance(request, h11.Request)
    path, _, query = request.target.decode("latin-1").partition("?")
    environ: Environ = {
        "REQUEST_METHOD": request.method.decode("ascii"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("ascii"),
        "wsgi.url_scheme": "http",
    }
    for raw_name, raw_value in request.headers:
        key = raw_name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = raw_value.decode("latin-1")
        # PEP 3333 servers join repeated headers with commas.
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ


def response_bytes(
    request: bytes,
    headers: Sequence[Tuple[str, str]],
    status: int = 101,
    reason: bytes = b"",
    body: bytes = b"",
) -> bytes:
    """Answer ``request`` with h11, as a real HTTP server would."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(request)
    assert isinstance(conn.next_event(), h11.Request)
    if status == 101:
        return (
            conn.send(
                h11.InformationalResponse(
                    status_code=101,
                    headers=list(headers),
                    reason=reason or b"Switching Protocols",
                )
            )
            or b""
        )
    head = (
        conn.send(
            h11.Response(
                status_code=status,
                headers=[*headers, ("Content-Length", str(len(body)))],
                reason=reason,
            )
        )
        or b""
    )
    return (
        head
        + (conn.send(h11.Data(data=body)) or b"")
        + (conn.send(h11.EndOfMessage()) or b"")
    )


def make_environ(**changes: Optional[str]) -> Environ:
    """The RFC sample request as an environ; ``None`` removes a key.

    Its page comes from the server's own host, so that the same-origin
    default lets it through: the sample's ``http://example.com`` is another
    host than ``server.example.com``.
    """
    environ = environ_from_request(RFC_REQUEST)
    environ["HTTP_ORIGIN"] = "http://server.example.com"
    for key, value in changes.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


def accept_headers(key: str, *extra: Tuple[str, str]) -> List[Tuple[str, str]]:
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
        *extra,
    ]


# Accept keys


def test_rfc_sample_accept_key() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    # Cross-check with wsproto's implementation.
    assert generate_accept_token(RFC_KEY.encode()) == RFC_ACCEPT.encode()


def test_rfc_sample_handshake() -> None:
    # The sample's page is served by example.com, its server is
    # server.example.com: a site that wants that lists the origin.
    environ = environ_from_request(RFC_REQUEST)
    handshake = server_handshake(
        environ, subprotocols=["chat"], origins=["http://example.com"]
    )
    assert handshake == ServerHandshake(
        headers=[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", RFC_ACCEPT),
            ("Sec-WebSocket-Protocol", "chat"),
        ],
        subprotocol="chat",
        deflate=None,
        key=RFC_KEY,
    )


def test_accept_without_subprotocols_or_extensions() -> None:
    handshake = server_handshake(make_environ())
    assert handshake.headers == accept_headers(RFC_KEY)
    assert handshake.subprotocol is None
    assert handshake.deflate is None


# is_upgrade_request


@pytest.mark.parametrize(
    ("upgrade", "expected"),
    [
        ("websocket", True),
        ("WebSocket", True),
        ("WEBSOCKET", True),
        ("h2c, websocket", True),
        (" websocket ", True),
        ("h2c", False),
        ("websockets", False),
        ("", False),
        (None, False),
    ],
)
def test_is_upgrade_request(upgrade: Optional[str], expected: bool) -> None:
    assert is_upgrade_request(make_environ(HTTP_UPGRADE=upgrade)) is expected


# Server-side validation: one row per rule of RFC 6455 section 4.2.1.

VERSION_HEADERS = [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13, 8, 7")]
NEEDS_HTTP_11 = ": a WebSocket handshake needs HTTP/1.1 or later"

BAD_REQUESTS: List[
    Tuple[str, Dict[str, Optional[str]], int, str, List[Tuple[str, str]]]
] = [
    (
        "method",
        {"REQUEST_METHOD": "POST"},
        400,
        "unsupported method POST: a WebSocket handshake uses GET",
        [],
    ),
    (
        "method case",
        {"REQUEST_METHOD": "get"},
        400,
        "unsupported method get: a WebSocket handshake uses GET",
        [],
    ),
    (
        "http/1.0",
        {"SERVER_PROTOCOL": "HTTP/1.0"},
        400,
        "unsupported HTTP version HTTP/1.0" + NEEDS_HTTP_11,
        [],
    ),
    (
        "no protocol",
        {"SERVER_PROTOCOL": None},
        400,
        "unsupported HTTP version (none)" + NEEDS_HTTP_11,
        [],
    ),
    (
        "garbage protocol",
        {"SERVER_PROTOCOL": "SPDY/3"},
        400,
        "unsupported HTTP version SPDY/3" + NEEDS_HTTP_11,
        [],
    ),
    ("no host", {"HTTP_HOST": None}, 400, "missing Host header", []),
    ("empty host", {"HTTP_HOST": ""}, 400, "missing Host header", []),
    ("no upgrade", {"HTTP_UPGRADE": None}, 400, "missing Upgrade header", []),
    (
        "wrong upgrade",
        {"HTTP_UPGRADE": "h2c"},
        400,
        "Upgrade header must include websocket",
        [],
    ),
    (
        "bad upgrade",
        {"HTTP_UPGRADE": "web socket"},
        400,
        "invalid Upgrade header: "
        "expected ',' or end of header, found ' ' at position 3",
        [],
    ),
    ("no connection", {"HTTP_CONNECTION": None}, 400, "missing Connection header", []),
    (
        "wrong connection",
        {"HTTP_CONNECTION": "keep-alive"},
        400,
        "Connection header must include Upgrade",
        [],
    ),
    (
        "connection substring",
        {"HTTP_CONNECTION": "upgrades"},
        400,
        "Connection header must include Upgrade",
        [],
    ),
    (
        "bad connection",
        {"HTTP_CONNECTION": "keep alive, Upgrade"},
        400,
        "invalid Connection header: expected a token, found ' ' at position 4",
        [],
    ),
    (
        "no version",
        {"HTTP_SEC_WEBSOCKET_VERSION": None},
        426,
        "missing Sec-WebSocket-Version header",
        VERSION_HEADERS,
    ),
    (
        "old version",
        {"HTTP_SEC_WEBSOCKET_VERSION": "6"},
        426,
        "unsupported Sec-WebSocket-Version 6: this server supports 13, 8, 7",
        VERSION_HEADERS,
    ),
    (
        "two versions",
        {"HTTP_SEC_WEBSOCKET_VERSION": "13, 8"},
        426,
        "unsupported Sec-WebSocket-Version 13, 8: this server supports 13, 8, 7",
        VERSION_HEADERS,
    ),
    (
        "no key",
        {"HTTP_SEC_WEBSOCKET_KEY": None},
        400,
        "missing Sec-WebSocket-Key header",
        [],
    ),
    (
        "empty key",
        {"HTTP_SEC_WEBSOCKET_KEY": ""},
        400,
        "missing Sec-WebSocket-Key header",
        [],
    ),
    (
        "two keys",
        {"HTTP_SEC_WEBSOCKET_KEY": f"{RFC_KEY}, {RFC_KEY}"},
        400,
        "more than one Sec-WebSocket-Key header",
        [],
    ),
    (
        "key not base64",
        {"HTTP_SEC_WEBSOCKET_KEY": "not base64 at all!!!!!!"},
        400,
        "invalid Sec-WebSocket-Key header: must be 16 bytes in base64",
        [],
    ),
    (
        "key too short",
        {"HTTP_SEC_WEBSOCKET_KEY": base64.b64encode(b"x" * 15).decode()},
        400,
        "invalid Sec-WebSocket-Key header: must be 16 bytes in base64",
        [],
    ),
    (
        "key too long",
        {"HTTP_SEC_WEBSOCKET_KEY": base64.b64encode(b"x" * 17).decode()},
        400,
        "invalid Sec-WebSocket-Key header: must be 16 bytes in base64",
        [],
    ),
    (
        "key unpadded",
        {"HTTP_SEC_WEBSOCKET_KEY": RFC_KEY.rstrip("=")},
        400,
        "invalid Sec-WebSocket-Key header: must be 16 bytes in base64",
        [],
    ),
    (
        "key extra padding",
        {"HTTP_SEC_WEBSOCKET_KEY": RFC_KEY + "="},
        400,
        "invalid Sec-WebSocket-Key header: must be 16 bytes in base64",
        [],
    ),
    (
        "key urlsafe alphabet",
        {"HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZ-_"},
        400,
        "invalid Sec-WebSocket-Key header: must be 16 bytes in base64",
        [],
    ),
    (
        "key non-ascii",
        {"HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ=\xe9"},
        400,
        "invalid Sec-WebSocket-Key header: must be 16 bytes in base64",
        [],
    ),
    (
        "bad subprotocol header",
        {"HTTP_SEC_WEBSOCKET_PROTOCOL": "chat; v=1"},
        400,
        "invalid Sec-WebSocket-Protocol header: "
        "expected a token, found ';' at position 4",
        [],
    ),
    (
        "bad extensions header",
        {"HTTP_SEC_WEBSOCKET_EXTENSIONS": "permessage-deflate;"},
        400,
        "invalid Sec-WebSocket-Extensions header: expected a parameter name, "
        "found end of header",
        [],
    ),
]


@pytest.mark.parametrize(
    ("changes", "status", "reason", "headers"),
    [row[1:] for row in BAD_REQUESTS],
    ids=[row[0] for row in BAD_REQUESTS],
)
def test_bad_requests_are_rejected(
    changes: Dict[str, Optional[str]],
    status: int,
    reason: str,
    headers: List[Tuple[str, str]],
) -> None:
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(make_environ(**changes))
    assert excinfo.type is HandshakeError
    assert excinfo.value.status == status
    assert excinfo.value.reason == reason
    assert excinfo.value.headers == headers


def test_reasons_do_not_echo_unsafe_values() -> None:
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(make_environ(REQUEST_METHOD="X" * 200))
    assert excinfo.value.reason == (
        "unsupported method (not shown): a WebSocket handshake uses GET"
    )
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(make_environ(HTTP_SEC_WEBSOCKET_VERSION="13\x1b[2J"))
    assert "\x1b" not in excinfo.value.reason


@pytest.mark.parametrize(
    "changes",
    [
        {"HTTP_UPGRADE": "WebSocket"},
        {"HTTP_UPGRADE": "WEBSOCKET"},
        {"HTTP_UPGRADE": "HTTP/2.0, websocket"},
        {"HTTP_CONNECTION": "upgrade"},
        {"HTTP_CONNECTION": "keep-alive, Upgrade"},
        {"HTTP_CONNECTION": "Upgrade, keep-alive"},
        {"HTTP_CONNECTION": "keep-alive,UPGRADE"},
        {"HTTP_SEC_WEBSOCKET_VERSION": " 13 "},
        {"SERVER_PROTOCOL": "HTTP/1.2"},
        {"SERVER_PROTOCOL": "HTTP/2.0"},
        {"HTTP_ORIGIN": None},
        {"HTTP_SEC_WEBSOCKET_PROTOCOL": None},
        {"HTTP_SEC_WEBSOCKET_EXTENSIONS": "x-unknown; a=1, y"},
    ],
)
def test_acceptable_variants(changes: Dict[str, Optional[str]]) -> None:
    handshake = server_handshake(make_environ(**changes))
    assert handshake.headers == accept_headers(RFC_KEY)


def test_version_is_checked_before_key() -> None:
    # A client of an older draft learns which version to speak (4.4).
    environ = make_environ(HTTP_SEC_WEBSOCKET_VERSION="6", HTTP_SEC_WEBSOCKET_KEY=None)
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(environ)
    assert excinfo.value.status == 426


def test_environ_from_real_client_request_with_repeated_headers() -> None:
    request = RFC_REQUEST.replace(
        b"Connection: Upgrade\r\n", b"Connection: keep-alive\r\nConnection: Upgrade\r\n"
    ).replace(
        b"Sec-WebSocket-Key: ",
        b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Key: ",
    )
    environ = environ_from_request(request)
    environ["HTTP_ORIGIN"] = "http://server.example.com"
    with pytest.raises(HandshakeError, match="more than one Sec-WebSocket-Key"):
        server_handshake(environ)
    environ["HTTP_SEC_WEBSOCKET_KEY"] = RFC_KEY
    assert server_handshake(environ).key == RFC_KEY


# Origin


@pytest.mark.parametrize(
    ("origin", "origins", "allowed"),
    [
        ("http://example.com", ["http://example.com"], True),
        ("HTTP://EXAMPLE.COM", ["http://example.com"], True),
        ("http://example.com", ["https://other.test", "HTTP://Example.Com"], True),
        ("http://example.com:8080", ["http://example.com"], False),
        ("https://example.com", ["http://example.com"], False),
        ("http://evil.test", ["http://example.com"], False),
        ("null", ["null"], True),
        (None, ["http://example.com"], False),
        (None, ["http://example.com", None], True),
        ("http://example.com", [None], False),
        ("http://example.com", [], False),
    ],
)
def test_origins(
    origin: Optional[str], origins: List[Optional[str]], allowed: bool
) -> None:
    environ = make_environ(HTTP_ORIGIN=origin)
    if allowed:
        server_handshake(environ, origins=origins)
        return
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(environ, origins=origins)
    assert excinfo.value.status == 403
    expected = "missing Origin header" if origin is None else "origin not allowed"
    assert excinfo.value.reason == expected


# The same-origin default (origins=None): host and port of Origin against
# Host, default ports normalised, scheme not compared.
@pytest.mark.parametrize(
    ("host", "origin", "allowed"),
    [
        ("server.example.com", "http://server.example.com", True),
        ("server.example.com", "https://server.example.com", True),
        ("server.example.com", "https://server.example.com:443", True),
        ("server.example.com:80", "https://server.example.com", True),
        ("Server.Example.COM", "HTTP://server.example.com", True),
        ("server.example.com:8000", "http://server.example.com:8000", True),
        ("server.example.com:8000", "wss://server.example.com:8000", True),
        ("[::1]:8000", "http://[::1]:8000", True),
        ("server.example.com", None, True),
        ("server.example.com", "http://evil.test", False),
        ("server.example.com", "http://server.example.com.evil.test", False),
        ("server.example.com", "http://evil.server.example.com", False),
        ("server.example.com:8000", "http://server.example.com", False),
        ("server.example.com:8000", "http://server.example.com:8001", False),
        ("server.example.com", "http://server.example.com:8000", False),
        ("[::1]:8000", "http://[::1]:8001", False),
        ("server.example.com", "null", False),
        ("server.example.com", "server.example.com", False),
        ("server.example.com", "http://server.example.com/path", False),
        ("server.example.com", "http://user@server.example.com", False),
        ("server.example.com", "http://server.example.com:99999", False),
        ("server.example.com", "", False),
    ],
)
def test_same_origin_by_default(
    host: str, origin: Optional[str], allowed: bool, caplog: Any
) -> None:
    environ = make_environ(HTTP_HOST=host, HTTP_ORIGIN=origin)
    if allowed:
        assert server_handshake(environ).key == RFC_KEY
        return
    with caplog.at_level("WARNING", logger="wsocket.server"):
        with pytest.raises(HandshakeError) as excinfo:
            server_handshake(environ)
    assert (excinfo.value.status, excinfo.value.reason) == (403, "origin not allowed")
    # The log says what was refused and how to allow it.
    [record] = [r for r in caplog.records if r.name == "wsocket.server"]
    message = record.getMessage()
    assert record.levelname == "WARNING"
    assert repr(origin) in message
    assert f"origins=[{origin!r}]" in message


def test_hybi_draft_origin_header_counts_when_origin_is_absent() -> None:
    environ = make_environ(
        HTTP_ORIGIN=None,
        HTTP_SEC_WEBSOCKET_ORIGIN="http://evil.test",
        HTTP_SEC_WEBSOCKET_VERSION="8",
    )
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(environ)
    assert excinfo.value.status == 403
    environ["HTTP_SEC_WEBSOCKET_ORIGIN"] = "http://server.example.com"
    assert server_handshake(environ).key == RFC_KEY
    # Origin wins when both are present.
    environ["HTTP_ORIGIN"] = "http://evil.test"
    with pytest.raises(HandshakeError):
        server_handshake(environ)


@pytest.mark.parametrize(
    ("remote", "trusted", "allowed"),
    [
        ("10.0.0.5", ["10.0.0.5"], True),
        ("10.0.0.5", ["10.0.0.0/8"], True),
        ("10.0.0.5", ["10.0.0.6"], False),
        ("192.0.2.1", ["10.0.0.0/8"], False),
        ("10.0.0.5", [], False),
        ("::1", ["::1"], True),
        ("not-an-address", ["10.0.0.0/8"], False),
    ],
)
def test_forwarded_host_counts_only_from_trusted_proxies(
    remote: str, trusted: List[str], allowed: bool
) -> None:
    # The proxy rewrote Host to the upstream's name and kept the client's.
    environ = make_environ(
        HTTP_HOST="upstream:8000",
        HTTP_X_FORWARDED_HOST="chat.example.com, inner.proxy",
        HTTP_ORIGIN="https://chat.example.com",
        REMOTE_ADDR=remote,
    )
    if allowed:
        assert server_handshake(environ, trusted_proxies=trusted).key == RFC_KEY
    else:
        with pytest.raises(HandshakeError) as excinfo:
            server_handshake(environ, trusted_proxies=trusted)
        assert excinfo.value.status == 403


def test_forwarded_host_from_a_client_does_not_let_another_origin_in() -> None:
    # A client cannot claim the attacker's host as the one it asked for.
    environ = make_environ(
        HTTP_X_FORWARDED_HOST="evil.test",
        HTTP_ORIGIN="http://evil.test",
        REMOTE_ADDR="192.0.2.9",
    )
    with pytest.raises(HandshakeError):
        server_handshake(environ, trusted_proxies=["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("origin", "pattern", "allowed"),
    [
        ("https://a.example.com", "https://*.example.com", True),
        ("https://a.b.example.com", "https://*.example.com", True),
        ("HTTPS://A.Example.com", "https://*.example.com", True),
        ("https://example.com", "https://*.example.com", False),
        ("http://a.example.com", "https://*.example.com", False),
        ("https://a.example.com:8443", "https://*.example.com", False),
        ("https://a.example.com:8443", "https://*.example.com:8443", True),
        ("https://evil.test/.example.com", "https://*.example.com", False),
        ("https://evil.test?.example.com", "https://*.example.com", False),
        ("https://a.example.com.evil.test", "https://*.example.com", False),
        ("https://evilexample.com", "https://*.example.com", False),
        (None, "https://*.example.com", False),
    ],
)
def test_origin_patterns(origin: Optional[str], pattern: str, allowed: bool) -> None:
    environ = make_environ(HTTP_ORIGIN=origin)
    if allowed:
        server_handshake(environ, origins=[pattern])
    else:
        with pytest.raises(HandshakeError) as excinfo:
            server_handshake(environ, origins=[pattern])
        assert excinfo.value.status == 403


@pytest.mark.parametrize("origin", ["http://evil.test", "null", None])
def test_any_origin(origin: Optional[str]) -> None:
    environ = make_environ(HTTP_ORIGIN=origin)
    assert server_handshake(environ, origins="*").key == RFC_KEY
    assert server_handshake(environ, origins=["*"]).key == RFC_KEY


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        ("http://example.com", "pass '\\*'"),
        (["https://*example.com"], "bad pattern"),
        (["https://a.*.example.com"], "bad pattern"),
        (["*.example.com"], "bad pattern"),
        (["https://*.*.example.com"], "bad pattern"),
        ([42], "neither a string nor None"),
    ],
)
def test_bad_origins_options(origins: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_origins(origins)


def test_bad_trusted_proxies() -> None:
    with pytest.raises(ValueError, match="not an IP address or network"):
        check_trusted_proxies(["proxy.local"])
    assert check_trusted_proxies("10.0.0.1") == ("10.0.0.1",)


def test_check_origin_replaces_the_same_origin_check() -> None:
    environ = make_environ(HTTP_ORIGIN="http://partner.test")
    assert server_handshake(environ, check_origin=lambda o: o == "http://partner.test")


@pytest.mark.parametrize("origin", ["http://example.com", None])
def test_check_origin(origin: Optional[str]) -> None:
    seen: List[Optional[str]] = []

    def refuse(value: Optional[str]) -> bool:
        seen.append(value)
        return False

    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(make_environ(HTTP_ORIGIN=origin), check_origin=refuse)
    assert (excinfo.value.status, excinfo.value.reason) == (403, "origin not allowed")
    assert seen == [origin]
    assert server_handshake(
        make_environ(HTTP_ORIGIN=origin), check_origin=lambda o: True
    )


def test_origins_and_check_origin_both_apply() -> None:
    environ = make_environ()
    with pytest.raises(HandshakeError):
        server_handshake(
            environ, origins=["http://example.com"], check_origin=lambda o: False
        )
    with pytest.raises(HandshakeError):
        server_handshake(
            environ, origins=["http://x.test"], check_origin=lambda o: True
        )


# Subprotocols


@pytest.mark.parametrize(
    ("offered", "supported", "selected"),
    [
        ("chat, superchat", ["superchat", "chat"], "superchat"),
        ("chat, superchat", ["chat", "superchat"], "chat"),
        ("superchat", ["chat", "superchat"], "superchat"),
        # Several header occurrences, joined by the WSGI server.
        ("v1.json, v2.json, mqtt", ["mqtt", "v2.json"], "mqtt"),
        ("chat, superchat", ["other"], None),
        ("chat, superchat", [], None),
        ("Chat", ["chat"], None),  # subprotocol names are case-sensitive
        (", chat ,", ["chat"], "chat"),
        (None, ["chat"], None),
        ("", ["chat"], None),
    ],
)
def test_subprotocol_selection(
    offered: Optional[str], supported: List[str], selected: Optional[str]
) -> None:
    handshake = server_handshake(
        make_environ(HTTP_SEC_WEBSOCKET_PROTOCOL=offered), subprotocols=supported
    )
    assert handshake.subprotocol == selected
    protocol_headers = [
        v for k, v in handshake.headers if k == "Sec-WebSocket-Protocol"
    ]
    assert protocol_headers == ([] if selected is None else [selected])


def test_subprotocols_from_repeated_headers() -> None:
    request = RFC_REQUEST.replace(
        b"Sec-WebSocket-Protocol: chat, superchat\r\n",
        b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n",
    )
    environ = environ_from_request(request)
    assert environ["HTTP_SEC_WEBSOCKET_PROTOCOL"] == "chat, superchat"
    assert (
        server_handshake(
            environ, subprotocols=["superchat"], origins=["http://example.com"]
        ).subprotocol
        == "superchat"
    )


# Extensions


def extension_header(handshake: ServerHandshake) -> List[str]:
    return [v for k, v in handshake.headers if k == "Sec-WebSocket-Extensions"]


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; client_max_window_bits",  # Chrome
        "permessage-deflate",  # Firefox
        "permessage-deflate; client_max_window_bits=15; server_no_context_takeover",
        "x-webkit-deflate-frame, permessage-deflate",
        "PerMessage-Deflate",
    ],
)
def test_deflate_offers_are_accepted(offer: str) -> None:
    handshake = server_handshake(make_environ(HTTP_SEC_WEBSOCKET_EXTENSIONS=offer))
    assert handshake.deflate is not None
    [value] = extension_header(handshake)
    [(name, _)] = parse_extensions(value)
    assert name == "permessage-deflate"


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; unknown_parameter",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "x-webkit-deflate-frame",
    ],
)
def test_invalid_deflate_offers_are_declined(offer: str) -> None:
    handshake = server_handshake(make_environ(HTTP_SEC_WEBSOCKET_EXTENSIONS=offer))
    assert handshake.deflate is None
    assert extension_header(handshake) == []
    assert handshake.headers == accept_headers(RFC_KEY)


def test_negotiated_deflate_parameters_are_answered() -> None:
    # RFC 7692 7.1.1.1: accepting server_no_context_takeover means echoing it;
    # 7.1.2.2: client_max_window_bits in the response is at most the offer.
    offer = "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    handshake = server_handshake(make_environ(HTTP_SEC_WEBSOCKET_EXTENSIONS=offer))
    assert handshake.deflate is not None
    [(name, params)] = parse_extensions(extension_header(handshake)[0])
    answered = dict(params)
    assert "server_no_context_takeover" in answered
    assert int(answered.get("client_max_window_bits") or 10) <= 10


def test_invalid_offer_falls_back_to_next_offer() -> None:
    offer = "permessage-deflate; server_max_window_bits=99, permessage-deflate"
    handshake = server_handshake(make_environ(HTTP_SEC_WEBSOCKET_EXTENSIONS=offer))
    assert handshake.deflate is not None
    assert extension_header(handshake)[0].startswith("permessage-deflate")


def test_compression_disabled() -> None:
    environ = make_environ(HTTP_SEC_WEBSOCKET_EXTENSIONS="permessage-deflate")
    handshake = server_handshake(environ, compression=None)
    assert handshake.deflate is None
    assert extension_header(handshake) == []


def test_subprotocol_and_extension_header_order() -> None:
    environ = make_environ(HTTP_SEC_WEBSOCKET_EXTENSIONS="permessage-deflate")
    handshake = server_handshake(environ, subprotocols=["chat"])
    assert [name for name, _ in handshake.headers] == [
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
    ]


# reject_response


def test_reject_response_bad_request() -> None:
    status, headers, body = reject_response(HandshakeError("missing Host header"))
    assert status == "400 Bad Request"
    assert body == b"missing Host header\n"
    assert headers == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", "20"),
        ("Connection", "close"),
    ]


def test_reject_response_upgrade_required() -> None:
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(make_environ(HTTP_SEC_WEBSOCKET_VERSION="6"))
    status, headers, body = reject_response(excinfo.value)
    assert status == "426 Upgrade Required"
    assert ("Sec-WebSocket-Version", "13, 8, 7") in headers
    assert ("Upgrade", "websocket") in headers
    assert ("Connection", "Upgrade, close") in headers
    assert ("Content-Length", str(len(body))) in headers
    assert body == (
        b"unsupported Sec-WebSocket-Version 6: this server supports 13, 8, 7\n"
    )


@pytest.mark.parametrize(
    ("status", "line"),
    [(403, "403 Forbidden"), (500, "500 Internal Server Error"), (599, "599 Unknown")],
)
def test_reject_response_status_lines(status: int, line: str) -> None:
    assert reject_response(HandshakeError("no", status))[0] == line


def test_reject_response_utf8_body_and_managed_headers() -> None:
    error = HandshakeError(
        "origine refusée", 403, [("Content-Type", "text/html"), ("X-Why", "policy")]
    )
    _, headers, body = reject_response(error)
    assert body == "origine refusée\n".encode()
    assert ("Content-Length", str(len(body))) in headers
    assert [v for k, v in headers if k == "Content-Type"] == [
        "text/plain; charset=utf-8"
    ]
    assert headers[-1] == ("X-Why", "policy")


def test_reject_response_is_valid_http() -> None:
    status, headers, body = reject_response(HandshakeError("missing Host header"))
    code, _, phrase = status.partition(" ")
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert isinstance(conn.next_event(), h11.Request)
    data = conn.send(
        h11.Response(status_code=int(code), headers=headers, reason=phrase)
    )
    data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
    assert data.endswith(b"\r\n\r\nmissing Host header\n")


def run_under_wsgiref(app: Any) -> bytes:
    output = io.BytesIO()
    handler = wsgiref.handlers.SimpleHandler(
        io.BytesIO(), output, io.StringIO(), dict(make_environ()), multithread=False
    )
    handler.run(wsgiref.validate.validator(app))
    return output.getvalue()


@pytest.mark.parametrize("status", [400, 403, 426])
def test_reject_response_without_hop_by_hop_headers_under_wsgiref(
    status: int,
) -> None:
    error = HandshakeError("nope", status)
    if status == 426:
        with pytest.raises(HandshakeError) as excinfo:
            server_handshake(make_environ(HTTP_SEC_WEBSOCKET_VERSION="6"))
        error = excinfo.value

    def app(environ: Environ, start_response: Any) -> List[bytes]:
        line, headers, body = reject_response(error, hop_by_hop=False)
        start_response(line, headers)
        return [body]

    head, _, body = run_under_wsgiref(app).partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(reject_response(error)[0].encode())
    assert b"Connection:" not in head and b"Upgrade:" not in head
    assert body == (error.reason + "\n").encode()
    assert (b"Sec-WebSocket-Version: 13" in head) is (status == 426)


def test_wsgiref_refuses_hop_by_hop_headers() -> None:
    # Why hop_by_hop=False exists: PEP 3333 servers may refuse them.
    def app(environ: Environ, start_response: Any) -> List[bytes]:
        line, headers, body = reject_response(HandshakeError("nope"))
        start_response(line, headers)
        return [body]

    assert b" 500 " in run_under_wsgiref(app).split(b"\r\n")[0]


# parse_ws_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://example.com", (False, "example.com", 80, "/")),
        ("wss://example.com", (True, "example.com", 443, "/")),
        ("ws://example.com/", (False, "example.com", 80, "/")),
        ("WS://Example.COM/Chat", (False, "example.com", 80, "/Chat")),
        ("ws://example.com:8080/chat", (False, "example.com", 8080, "/chat")),
        ("wss://example.com:443/", (True, "example.com", 443, "/")),
        ("wss://example.com:80/", (True, "example.com", 80, "/")),
        (
            "ws://example.com/chat?room=1&x=%23",
            (False, "example.com", 80, "/chat?room=1&x=%23"),
        ),
        ("ws://example.com?room=1", (False, "example.com", 80, "/?room=1")),
        ("ws://127.0.0.1:9000/", (False, "127.0.0.1", 9000, "/")),
        ("ws://[::1]/", (False, "::1", 80, "/")),
        ("wss://[2001:db8::1]:8443/x", (True, "2001:db8::1", 8443, "/x")),
        ("ws://example.com/a b", (False, "example.com", 80, "/a%20b")),
        ("ws://example.com/caf\u00e9", (False, "example.com", 80, "/caf%C3%A9")),
        ("ws://b\u00fccher.example/", (False, "xn--bcher-kva.example", 80, "/")),
    ],
)
def test_parse_ws_url(url: str, expected: Tuple[bool, str, int, str]) -> None:
    assert parse_ws_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/", "unsupported URL scheme 'http': use ws:// or wss://"),
        ("https://example.com/", "use ws:// or wss://"),
        ("example.com", "use ws:// or wss://"),
        ("ws://example.com/#frag", "must not contain a fragment"),
        ("ws://example.com/#", "must not contain a fragment"),
        ("ws://user:pass@example.com/", "must not contain user info"),
        ("ws:///chat", "has no host"),
        ("ws://example.com:99999/", "invalid port"),
        ("ws://example.com:0/", "invalid port"),
        ("ws://example.com:http/", "invalid port"),
    ],
)
def test_parse_ws_url_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ws_url(url)


# ClientHandshake: the request


def parse_request(data: bytes) -> Tuple[h11.Request, List[Tuple[str, str]]]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    request = conn.next_event()
    assert isinstance(request, h11.Request)
    assert isinstance(conn.next_event(), h11.EndOfMessage)
    headers = [
        (k.decode(), v.decode("latin-1")) for k, v in request.headers.raw_items()
    ]
    return request, headers


def test_request_bytes_parse_with_h11() -> None:
    client = ClientHandshake(
        "ws://example.com/chat?room=1",
        subprotocols=["chat", "superchat"],
        origin="http://example.com",
        headers=[("Authorization", "Bearer x"), ("X-Trace", "1"), ("X-Trace", "2")],
    )
    request, headers = parse_request(client.request_bytes())
    assert request.method == b"GET"
    assert request.target == b"/chat?room=1"
    assert request.http_version == b"1.1"
    names = [name for name, _ in headers]
    assert names == [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Origin",
        "Authorization",
        "X-Trace",
        "X-Trace",
    ]
    values = dict(headers)
    assert values["Host"] == "example.com"
    assert values["Upgrade"] == "websocket"
    assert values["Connection"] == "Upgrade"
    assert values["Sec-WebSocket-Key"] == client.key
    assert len(base64.b64decode(client.key, validate=True)) == 16
    assert values["Sec-WebSocket-Version"] == "13"
    assert values["Sec-WebSocket-Protocol"] == "chat, superchat"
    assert (
        parse_extensions(values["Sec-WebSocket-Extensions"])[0][0]
        == "permessage-deflate"
    )
    assert values["Origin"] == "http://example.com"


def test_request_without_optional_headers() -> None:
    client = ClientHandshake(host="example.com", compression=None)
    _, headers = parse_request(client.request_bytes())
    assert [name for name, _ in headers] == [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
    ]
    assert (client.secure, client.port, client.resource) == (False, 80, "/")


def test_keys_are_random() -> None:
    assert ClientHandshake(host="a").key != ClientHandshake(host="a").key


@pytest.mark.parametrize(
    ("kwargs", "host"),
    [
        ({"url": "ws://example.com/"}, "example.com"),
        ({"url": "ws://example.com:80/"}, "example.com"),
        ({"url": "ws://example.com:443/"}, "example.com:443"),
        ({"url": "wss://example.com:443/"}, "example.com"),
        ({"url": "wss://example.com:80/"}, "example.com:80"),
        ({"url": "ws://example.com:8080/"}, "example.com:8080"),
        ({"url": "ws://[::1]/"}, "[::1]"),
        ({"url": "ws://[::1]:8080/"}, "[::1]:8080"),
        ({"url": "wss://[2001:db8::1]/"}, "[2001:db8::1]"),
        ({"host": "::1", "port": 9000}, "[::1]:9000"),
        ({"host": "[::1]", "port": 9000}, "[::1]:9000"),
        ({"host": "example.com", "secure": True}, "example.com"),
        ({"host": "example.com", "secure": True, "port": 8443}, "example.com:8443"),
        ({"host": "127.0.0.1", "port": 80}, "127.0.0.1"),
    ],
)
def test_host_header(kwargs: Dict[str, Any], host: str) -> None:
    client = ClientHandshake(**kwargs)
    _, headers = parse_request(client.request_bytes())
    assert dict(headers)["Host"] == host


def test_host_header_can_be_replaced() -> None:
    client = ClientHandshake(host="10.0.0.1", headers={"Host": "virtual.example"})
    _, headers = parse_request(client.request_bytes())
    assert [v for k, v in headers if k.lower() == "host"] == ["virtual.example"]


def test_origin_as_user_header() -> None:
    client = ClientHandshake(host="a", headers={"Origin": "https://a"})
    _, headers = parse_request(client.request_bytes())
    assert dict(headers)["Origin"] == "https://a"


def test_parts_constructor() -> None:
    client = ClientHandshake(
        host="example.com", port=8443, resource="/x?y=1", secure=True
    )
    request, _ = parse_request(client.request_bytes())
    assert request.target == b"/x?y=1"
    assert (client.host, client.port, client.secure) == ("example.com", 8443, True)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("ws://a/",), {"host": "a"}, "either url or"),
        (("ws://a/",), {"secure": True}, "either url or"),
        ((), {}, "give url or host"),
        (("http://a/",), {}, "use ws:// or wss://"),
        ((), {"host": ""}, "empty host"),
        ((), {"host": "a b"}, "invalid host"),
        ((), {"host": "a/b"}, "invalid host"),
        ((), {"host": "\u00e9" * 70 + ".example"}, "invalid host"),
        ((), {"host": "a", "port": 0}, "invalid port"),
        ((), {"host": "a", "port": 65536}, "invalid port"),
        ((), {"host": "a", "resource": "chat"}, "invalid resource"),
        ((), {"host": "a", "resource": "/a b"}, "invalid resource"),
        ((), {"host": "a", "resource": "/\u00e9"}, "invalid resource"),
        ((), {"host": "a", "subprotocols": ["a b"]}, "not a valid token"),
        ((), {"host": "a", "subprotocols": ["chat\r\nX: y"]}, "not a valid token"),
        ((), {"host": "a", "headers": {"X-A": "1\r\nX-Injected: 1"}}, "CR, LF or NUL"),
        ((), {"host": "a", "headers": {"X-A": "1\nX-Injected: 1"}}, "CR, LF or NUL"),
        ((), {"host": "a", "headers": {"X-A": "1\rX"}}, "CR, LF or NUL"),
        ((), {"host": "a", "headers": {"X-A": "1\x00"}}, "CR, LF or NUL"),
        ((), {"host": "a", "headers": {"X-A": "\u20ac"}}, "ISO-8859-1"),
        ((), {"host": "a", "headers": [("Bad Name", "1")]}, "invalid header name"),
        ((), {"host": "a", "headers": [("X:Y", "1")]}, "invalid header name"),
        ((), {"host": "a", "origin": "http://a\r\nX: y"}, "CR, LF or NUL"),
        ((), {"host": "a", "origin": "http://a", "headers": {"origin": "x"}}, "Origin"),
        (
            (),
            {"host": "a", "headers": {"Sec-WebSocket-Key": RFC_KEY}},
            "set by the handshake",
        ),
        (
            (),
            {"host": "a", "headers": {"sec-websocket-protocol": "x"}},
            "set by the handshake",
        ),
        ((), {"host": "a", "headers": {"Upgrade": "h2c"}}, "set by the handshake"),
        ((), {"host": "a", "max_response_size": 0}, "must be positive"),
    ],
)
def test_client_argument_errors(
    args: Tuple[Any, ...], kwargs: Dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ClientHandshake(*args, **kwargs).request_bytes()


# ClientHandshake: the response


def client_and_request(**kwargs: Any) -> Tuple[ClientHandshake, bytes]:
    kwargs.setdefault("compression", None)
    client = ClientHandshake("ws://example.com/chat", **kwargs)
    return client, client.request_bytes()


def test_full_round_trip_through_h11() -> None:
    client = ClientHandshake(
        "ws://example.com/chat",
        subprotocols=["superchat", "chat"],
        origin="http://example.com",
    )
    request = client.request_bytes()
    handshake = server_handshake(
        environ_from_request(request), subprotocols=["chat", "superchat"]
    )
    assert handshake.key == client.key
    assert handshake.deflate is not None
    result = client.receive_data(response_bytes(request, handshake.headers))
    assert isinstance(result, ClientHandshakeResult)
    assert result.status == 101
    assert result.subprotocol == "chat"
    assert result.deflate is not None
    assert result.extra == b""
    assert ("Sec-WebSocket-Accept", accept_key(client.key)) in result.headers


def test_round_trip_without_compression_on_either_side() -> None:
    client = ClientHandshake("ws://example.com/", compression=None)
    request = client.request_bytes()
    handshake = server_handshake(environ_from_request(request))
    assert handshake.deflate is None
    result = client.receive_data(response_bytes(request, handshake.headers))
    assert result is not None and result.deflate is None and result.subprotocol is None

    client = ClientHandshake("ws://example.com/")
    request = client.request_bytes()
    handshake = server_handshake(environ_from_request(request), compression=None)
    result = client.receive_data(response_bytes(request, handshake.headers))
    assert result is not None and result.deflate is None


def test_response_fed_one_byte_at_a_time() -> None:
    client, request = client_and_request(subprotocols=["chat"])
    handshake = server_handshake(environ_from_request(request), subprotocols=["chat"])
    data = response_bytes(request, handshake.headers) + b"\x81\x02hi"
    results = [client.receive_data(data[i : i + 1]) for i in range(len(data) - 4)]
    assert results[:-1] == [None] * (len(results) - 1)
    result = results[-1]
    assert result is not None
    assert result.subprotocol == "chat"
    assert result.extra == b""  # the head ended exactly at the last byte fed
    with pytest.raises(InvalidState):
        client.receive_data(data[len(data) - 4 :])


@pytest.mark.parametrize("split", range(1, 12))
def test_response_split_near_the_end_of_the_head(split: int) -> None:
    client, request = client_and_request()
    data = response_bytes(request, accept_headers(client.key)) + b"\x81\x02hi"
    head_end = data.index(b"\r\n\r\n") + 4
    cut = head_end - 6 + split
    first = client.receive_data(data[:cut])
    if cut >= head_end:
        assert first is not None and first.extra == data[head_end:cut]
    else:
        assert first is None
        second = client.receive_data(data[cut:])
        assert second is not None and second.extra == b"\x81\x02hi"


def test_extra_bytes_after_the_head() -> None:
    client, request = client_and_request()
    frames = b"\x81\x05hello\x89\x00"
    result = client.receive_data(
        response_bytes(request, accept_headers(client.key)) + frames
    )
    assert result is not None
    assert result.extra == frames


def test_head_exactly_at_the_limit() -> None:
    client, request = client_and_request()
    data = response_bytes(request, accept_headers(client.key))
    client.max_response_size = len(data)
    assert client.receive_data(data + b"extra") is not None


def test_oversized_head_with_terminator() -> None:
    client, request = client_and_request()
    data = response_bytes(request, accept_headers(client.key))
    client.max_response_size = len(data) - 1
    with pytest.raises(HandshakeError) as excinfo:
        client.receive_data(data)
    assert excinfo.value.status == 0
    assert "response head larger than" in excinfo.value.reason


def test_oversized_head_without_terminator() -> None:
    client = ClientHandshake(host="a", max_response_size=1024)
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n")
    with pytest.raises(HandshakeError, match="larger than 1024 bytes"):
        for _ in range(100):
            assert client.receive_data(b"X-Filler: " + b"a" * 20 + b"\r\n") is None
    with pytest.raises(InvalidState):
        client.receive_data(b"\r\n")


def test_default_limit_stops_endless_headers() -> None:
    client = ClientHandshake(host="a")
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n")
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    with pytest.raises(HandshakeError, match="larger than 65536 bytes"):
        for _ in range(100):
            client.receive_data(line)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, b"Bad Request"),
        (403, b"Forbidden"),
        (404, b"Not Found"),
        (426, b"Upgrade Required"),
        (500, b"Internal Server Error"),
        (200, b"OK"),
        (302, b"Found"),
    ],
)
def test_non_101_statuses(status: int, reason: bytes) -> None:
    client, request = client_and_request()
    data = response_bytes(
        request, [("X-Reason", "test")], status=status, reason=reason, body=b"no\n"
    )
    with pytest.raises(HandshakeError) as excinfo:
        client.receive_data(data)
    error = excinfo.value
    assert error.status == status
    assert (
        error.reason
        == f"server rejected WebSocket connection: {status} {reason.decode()}"
    )
    assert ("X-Reason", "test") in error.headers


def test_non_101_without_reason_phrase() -> None:
    client = ClientHandshake(host="a")
    with pytest.raises(HandshakeError) as excinfo:
        client.receive_data(b"HTTP/1.1 503\r\n\r\n")
    assert (excinfo.value.status, excinfo.value.reason) == (
        503,
        "server rejected WebSocket connection: 503",
    )


def test_real_server_rejection_is_reported() -> None:
    client, request = client_and_request()
    status, headers, body = reject_response(HandshakeError("origin not allowed", 403))
    code, _, phrase = status.partition(" ")
    data = response_bytes(
        request,
        [h for h in headers if h[0] != "Content-Length"],
        status=int(code),
        reason=phrase.encode(),
        body=body,
    )
    with pytest.raises(HandshakeError) as excinfo:
        client.receive_data(data)
    assert excinfo.value.status == 403
    assert excinfo.value.reason.endswith("403 Forbidden")


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"HTTP/1.1 101 Switching Protocols\r\nno colon", "malformed header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\nBad Name: x", "malformed header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\nName : x", "malformed header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n: x", "malformed header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n folded-first", "malformed header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\nX: a\x00b", "invalid characters"),
        (b"HTTP/1.1 101 Switching Protocols\r\nX: a\nY: b", "invalid characters"),
        (b"HTTP/1.1 101 Switching Protocols\r\nX: a\rb", "invalid characters"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nX: a\r\n b\x00",
            "malformed header line",
        ),
    ],
)
def test_malformed_header_lines(head: bytes, message: str) -> None:
    client = ClientHandshake(host="a")
    with pytest.raises(HandshakeError, match=message) as excinfo:
        client.receive_data(head + b"\r\n\r\n")
    assert excinfo.value.status == 101


@pytest.mark.parametrize(
    "status_line",
    [
        b"",
        b"HTTP/1.1",
        b"HTTP/1.1 101Switching Protocols",
        b"HTTP/1.1  101 Switching Protocols",
        b"HTTP/1.1 1010 Switching Protocols",
        b"HTTP/11 101 Switching Protocols",
        b"http/1.1 101 Switching Protocols",
        b"ICY 200 OK",
        b"HTTP/1.1 101 Switching\x00Protocols",
        b"SSH-2.0-OpenSSH_9.6",
    ],
)
def test_malformed_status_lines(status_line: bytes) -> None:
    client = ClientHandshake(host="a")
    with pytest.raises(HandshakeError, match="malformed status line") as excinfo:
        client.receive_data(status_line + b"\r\nUpgrade: websocket\r\n\r\n")
    assert excinfo.value.status == 0


def test_http_10_101_is_rejected() -> None:
    client = ClientHandshake(host="a", compression=None)
    head = "\r\n".join(
        ["HTTP/1.0 101 Switching Protocols"]
        + [f"{k}: {v}" for k, v in accept_headers(client.key)]
    )
    with pytest.raises(HandshakeError, match="HTTP/1.1 or later"):
        client.receive_data(head.encode() + b"\r\n\r\n")


def test_obs_fold_is_unfolded() -> None:
    client = ClientHandshake(host="a", compression=None)
    head = (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection:\r\n Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(client.key)}\r\n"
        "X-Long: a\r\n\tb\r\n"
        "\r\n"
    )
    result = client.receive_data(head.encode())
    assert result is not None
    assert ("Connection", "Upgrade") in result.headers
    assert ("X-Long", "a b") in result.headers


def test_status_line_without_reason_and_lowercase_headers() -> None:
    client = ClientHandshake(host="a", compression=None)
    head = (
        "HTTP/1.1 101\r\n"
        "upgrade:WebSocket\r\n"
        "connection:  keep-alive, upgrade  \r\n"
        f"sec-websocket-accept:{accept_key(client.key)}\r\n"
        "\r\n"
    )
    result = client.receive_data(head.encode())
    assert result is not None
    assert result.headers[1] == ("connection", "keep-alive, upgrade")


HEADER_VIOLATIONS: List[
    Tuple[str, Optional[Tuple[str, str]], Optional[List[Tuple[str, str]]], str]
] = [
    # (id, header to drop by name / replace, extra headers, message)
    ("no upgrade", ("Upgrade", ""), None, "missing Upgrade header"),
    ("wrong upgrade", ("Upgrade", "h2c"), None, "invalid Upgrade header: 'h2c'"),
    ("two upgrades", ("Upgrade", "websocket, h2c"), None, "invalid Upgrade header"),
    (
        "bad upgrade",
        ("Upgrade", "web socket"),
        None,
        "invalid Upgrade header: expected",
    ),
    ("no connection", ("Connection", ""), None, "missing Connection header"),
    (
        "wrong connection",
        ("Connection", "close"),
        None,
        "invalid Connection header: 'close'",
    ),
    (
        "bad connection",
        ("Connection", "up grade"),
        None,
        "invalid Connection header: expected",
    ),
    (
        "no accept",
        ("Sec-WebSocket-Accept", ""),
        None,
        "missing Sec-WebSocket-Accept header",
    ),
    (
        "wrong accept",
        ("Sec-WebSocket-Accept", RFC_ACCEPT),
        None,
        "Sec-WebSocket-Accept does not match the key",
    ),
    (
        "two accepts",
        None,
        [("Sec-WebSocket-Accept", "x")],
        "more than one Sec-WebSocket-Accept header",
    ),
    (
        "bad protocol header",
        None,
        [("Sec-WebSocket-Protocol", "a b")],
        "invalid Sec-WebSocket-Protocol header",
    ),
    (
        "bad extensions header",
        None,
        [("Sec-WebSocket-Extensions", "permessage-deflate;")],
        "invalid Sec-WebSocket-Extensions header: expected a parameter name",
    ),
]


@pytest.mark.parametrize(
    ("replace", "extra", "message"),
    [row[1:] for row in HEADER_VIOLATIONS],
    ids=[row[0] for row in HEADER_VIOLATIONS],
)
def test_response_header_violations(
    replace: Optional[Tuple[str, str]],
    extra: Optional[List[Tuple[str, str]]],
    message: str,
) -> None:
    client, request = client_and_request()
    headers = accept_headers(client.key)
    if replace is not None:
        name, value = replace
        headers = [(k, value if k == name else v) for k, v in headers]
        headers = [(k, v) for k, v in headers if v]
    headers += extra or []
    with pytest.raises(HandshakeError) as excinfo:
        client.receive_data(response_bytes(request, headers))
    assert excinfo.type is HandshakeError
    assert excinfo.value.status == 101
    assert message in excinfo.value.reason


@pytest.mark.parametrize(
    ("offered", "selected", "message"),
    [
        ([], "chat", "server selected subprotocol 'chat', which was not offered"),
        (["chat"], "superchat", "server selected subprotocol 'superchat'"),
        (["chat"], "Chat", "server selected subprotocol 'Chat'"),
        (["chat", "superchat"], "chat, superchat", "more than one subprotocol"),
    ],
)
def test_subprotocol_not_offered(
    offered: List[str], selected: str, message: str
) -> None:
    client, request = client_and_request(subprotocols=offered)
    headers = accept_headers(client.key, ("Sec-WebSocket-Protocol", selected))
    with pytest.raises(NegotiationError) as excinfo:
        client.receive_data(response_bytes(request, headers))
    assert excinfo.value.status == 101
    assert message in excinfo.value.reason


def test_subprotocol_from_repeated_headers_is_one_choice() -> None:
    client, request = client_and_request(subprotocols=["chat", "superchat"])
    headers = accept_headers(
        client.key,
        ("Sec-WebSocket-Protocol", "chat"),
        ("Sec-WebSocket-Protocol", "chat"),
    )
    with pytest.raises(NegotiationError, match="more than one subprotocol"):
        client.receive_data(response_bytes(request, headers))


@pytest.mark.parametrize(
    ("compression", "extensions", "message"),
    [
        (
            None,
            "permessage-deflate",
            "extension 'permessage-deflate', which was not offered",
        ),
        (
            DeflateOptions(),
            "x-webkit-deflate-frame",
            "extension 'x-webkit-deflate-frame'",
        ),
        (
            DeflateOptions(),
            "permessage-deflate, permessage-deflate",
            "extension 'permessage-deflate', which was not offered",
        ),
        (DeflateOptions(), "permessage-deflate; server_max_window_bits=99", ""),
        (DeflateOptions(), "permessage-deflate; unknown_parameter", ""),
        (DeflateOptions(), "permessage-deflate; client_max_window_bits=7", ""),
    ],
)
def test_extension_violations(
    compression: Optional[DeflateOptions], extensions: str, message: str
) -> None:
    client = ClientHandshake("ws://example.com/", compression=compression)
    request = client.request_bytes()
    headers = accept_headers(client.key, ("Sec-WebSocket-Extensions", extensions))
    with pytest.raises(NegotiationError) as excinfo:
        client.receive_data(response_bytes(request, headers))
    assert message in excinfo.value.reason


def test_deflate_accepted_case_insensitively() -> None:
    client = ClientHandshake("ws://example.com/")
    request = client.request_bytes()
    headers = accept_headers(
        client.key, ("Sec-WebSocket-Extensions", "PerMessage-Deflate")
    )
    result = client.receive_data(response_bytes(request, headers))
    assert result is not None and result.deflate is not None


# Cross-checks with the websockets library (sans-I/O)


@pytest.mark.parametrize("compress", [False, True])
def test_websockets_server_accepts_our_client(compress: bool) -> None:
    client = ClientHandshake(
        "ws://example.com/chat?x=1",
        subprotocols=["superchat", "chat"],
        compression=DeflateOptions() if compress else None,
        origin="http://example.com",
    )
    server = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory()],
        subprotocols=[Subprotocol("chat")],
    )
    server.receive_data(client.request_bytes())
    [request] = server.events_received()
    assert isinstance(request, WebsocketsRequest)
    response = server.accept(request)
    server.send_response(response)
    assert server.handshake_exc is None
    assert response.status_code == 101
    assert request.path == "/chat?x=1"
    server.send_text(b"hello")
    data = b"".join(server.data_to_send())

    result = client.receive_data(data)
    assert result is not None
    assert result.subprotocol == "chat"
    assert (result.deflate is not None) is compress
    assert len(server.extensions) == (1 if compress else 0)
    # The first frame the server sent is handed over, not lost.
    assert result.extra
    assert result.extra[0] & 0x0F == 0x1  # a text frame
    if not compress:
        assert result.extra == b"\x81\x05hello"


def test_websockets_server_rejection_reaches_our_client() -> None:
    client = ClientHandshake("ws://example.com/", origin="http://evil.test")
    server = ServerProtocol(origins=[None])
    server.receive_data(client.request_bytes())
    [request] = server.events_received()
    assert isinstance(request, WebsocketsRequest)
    server.send_response(server.accept(request))
    with pytest.raises(HandshakeError) as excinfo:
        client.receive_data(b"".join(server.data_to_send()))
    assert excinfo.value.status == 403


@pytest.mark.parametrize("compress", [False, True])
def test_our_server_accepts_websockets_client(compress: bool) -> None:
    extensions = [ClientPerMessageDeflateFactory()] if compress else None
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"),
        subprotocols=[Subprotocol("chat"), Subprotocol("superchat")],
        extensions=extensions,
    )
    ws_request = client.connect()
    client.send_request(ws_request)
    request = b"".join(client.data_to_send())

    environ = environ_from_request(request)
    handshake = server_handshake(environ, subprotocols=["superchat", "chat"])
    assert handshake.subprotocol == "superchat"
    assert (handshake.deflate is not None) is compress

    client.receive_data(response_bytes(request, handshake.headers))
    [response] = client.events_received()
    assert isinstance(response, WebsocketsResponse)
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert response.status_code == 101
    assert client.subprotocol == "superchat"
    assert len(client.extensions) == (1 if compress else 0)


@pytest.mark.parametrize(
    "factory",
    [
        ClientPerMessageDeflateFactory(server_no_context_takeover=True),
        ClientPerMessageDeflateFactory(client_no_context_takeover=True),
        ClientPerMessageDeflateFactory(server_max_window_bits=10),
        ClientPerMessageDeflateFactory(client_max_window_bits=12),
        ClientPerMessageDeflateFactory(client_max_window_bits=None),
    ],
)
def test_websockets_client_deflate_variants(
    factory: ClientPerMessageDeflateFactory,
) -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), extensions=[factory])
    client.send_request(client.connect())
    request = b"".join(client.data_to_send())
    handshake = server_handshake(environ_from_request(request))
    assert handshake.deflate is not None
    client.receive_data(response_bytes(request, handshake.headers))
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert len(client.extensions) == 1


# Cross-checks with wsproto


@pytest.mark.parametrize("compress", [False, True])
def test_wsproto_client_accepts_our_server(compress: bool) -> None:
    ws = WSConnection(ConnectionType.CLIENT)
    request = ws.send(
        wsproto_events.Request(
            host="example.com",
            target="/chat",
            subprotocols=["chat"],
            extensions=[WsprotoPerMessageDeflate()] if compress else [],
        )
    )
    handshake = server_handshake(environ_from_request(request), subprotocols=["chat"])
    ws.receive_data(response_bytes(request, handshake.headers))
    [event] = list(ws.events())
    assert isinstance(event, wsproto_events.AcceptConnection)
    assert event.subprotocol == "chat"
    assert len(event.extensions) == (1 if compress else 0)


@pytest.mark.parametrize("compress", [False, True])
def test_wsproto_server_accepts_our_client(compress: bool) -> None:
    client = ClientHandshake(
        "ws://example.com/chat",
        subprotocols=["chat"],
        compression=DeflateOptions() if compress else None,
    )
    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(client.request_bytes())
    [event] = list(ws.events())
    assert isinstance(event, wsproto_events.Request)
    assert event.target == "/chat"
    assert event.subprotocols == ["chat"]
    data = ws.send(
        wsproto_events.AcceptConnection(
            subprotocol="chat", extensions=[WsprotoPerMessageDeflate()]
        )
    )
    result = client.receive_data(data)
    assert result is not None
    assert result.subprotocol == "chat"
    assert (result.deflate is not None) is compress


@pytest.mark.parametrize("version", ["7", "8"])
def test_hybi_drafts_7_and_8_are_accepted(version: str) -> None:
    # hybi-07/08 frame as RFC 6455 does, and name the origin header
    # Sec-WebSocket-Origin.
    environ = make_environ(HTTP_SEC_WEBSOCKET_VERSION=version)
    result = server_handshake(environ)
    assert ("Sec-WebSocket-Accept", accept_key(environ["HTTP_SEC_WEBSOCKET_KEY"])) in (
        result.headers
    )
    allowed = make_environ(
        HTTP_SEC_WEBSOCKET_VERSION=version,
        HTTP_ORIGIN=None,
        HTTP_SEC_WEBSOCKET_ORIGIN="https://app.example",
    )
    server_handshake(allowed, origins=["https://app.example"])
    refused = make_environ(
        HTTP_SEC_WEBSOCKET_VERSION=version,
        HTTP_ORIGIN=None,
        HTTP_SEC_WEBSOCKET_ORIGIN="https://evil.example",
    )
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(refused, origins=["https://app.example"])
    assert excinfo.value.status == 403


def test_sec_websocket_origin_is_ignored_for_version_13() -> None:
    environ = make_environ(
        HTTP_ORIGIN=None, HTTP_SEC_WEBSOCKET_ORIGIN="https://app.example"
    )
    with pytest.raises(HandshakeError) as excinfo:
        server_handshake(environ, origins=["https://app.example"])
    assert excinfo.value.status == 403
