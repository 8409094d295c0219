"""The origin policy of the middleware, the app and its routes.

The handshake-level rules (host and port comparison, patterns, proxies) are
tested in test_handshake.py; here the options travel through
WebSocketMiddleware, WSocketApp and @app.websocket to a real server and the
TestClient, and the peer sees the documented answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import MS, serving

from wsocket import WebSocketMiddleware
from wsocket.app import WSocketApp, _websocket_option_names
from wsocket.exceptions import HandshakeError
from wsocket.testing import TestClient


def echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    ws = environ["wsgi.websocket"]
    for message in ws:
        ws.send(message)
    return []


def handshake_status(port: int, **kwargs: Any) -> int:
    """Open a WebSocket with the websockets library; 101 or the refusal status."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=5000 * MS, **kwargs) as ws:
            ws.send("ping")
            assert ws.recv(timeout=5000 * MS) == "ping"
    except InvalidStatus as exc:
        return exc.response.status_code
    return 101


def test_cross_site_page_is_refused_by_a_real_server(caplog: Any) -> None:
    with serving(WebSocketMiddleware(echo_app)) as port:
        own = f"http://127.0.0.1:{port}"
        assert handshake_status(port) == 101  # no Origin: not a browser
        assert handshake_status(port, origin=own) == 101
        assert handshake_status(port, origin=f"https://127.0.0.1:{port}") == 101
        with caplog.at_level("WARNING", logger="wsocket.server"):
            assert handshake_status(port, origin="https://evil.example") == 403
        assert handshake_status(port, origin=f"http://127.0.0.1:{port + 1}") == 403
        assert handshake_status(port, origin=f"http://localhost:{port}") == 403
    assert any(
        "origins=['https://evil.example']" in record.getMessage()
        for record in caplog.records
    )


def test_forwarded_host_from_a_trusted_proxy() -> None:
    # The test client plays the proxy: it connects from 127.0.0.1.
    forwarded = {"X-Forwarded-Host": "chat.example.com"}
    page = "https://chat.example.com"
    app = WebSocketMiddleware(echo_app, trusted_proxies=["127.0.0.0/8"])
    with serving(app) as port:
        assert handshake_status(port, origin=page, additional_headers=forwarded) == 101
    app = WebSocketMiddleware(echo_app, trusted_proxies=["10.0.0.1"])
    with serving(app) as port:
        assert handshake_status(port, origin=page, additional_headers=forwarded) == 403


def test_explicit_lists_and_any() -> None:
    evil = {"Origin": "https://evil.example"}
    partner = {"Origin": "https://app.partner.example"}
    cases = [
        (WebSocketMiddleware(echo_app), evil, 403),
        (WebSocketMiddleware(echo_app), {}, 101),
        (WebSocketMiddleware(echo_app, origins="*"), evil, 101),
        (WebSocketMiddleware(echo_app, origins="*"), {}, 101),
        (
            WebSocketMiddleware(echo_app, origins=["https://*.partner.example"]),
            partner,
            101,
        ),
        (
            WebSocketMiddleware(echo_app, origins=["https://*.partner.example"]),
            evil,
            403,
        ),
        # An explicit list without None refuses clients that send no Origin.
        (WebSocketMiddleware(echo_app, origins=["https://*.partner.example"]), {}, 403),
        (
            WebSocketMiddleware(echo_app, origins=["https://*.partner.example", None]),
            {},
            101,
        ),
    ]
    for app, headers, expected in cases:
        client = TestClient(app)
        if expected == 101:
            with client.websocket_connect("/", headers=headers) as ws:
                ws.send("hi")
                assert ws.receive() == "hi"
        else:
            with pytest.raises(HandshakeError) as excinfo:
                client.websocket_connect("/", headers=headers)
            assert excinfo.value.status == expected


def test_app_and_route_options() -> None:
    assert "trusted_proxies" in _websocket_option_names()
    assert "origins" in _websocket_option_names()
    app = WSocketApp()

    @app.websocket("/same")
    def same(ws: Any) -> None:
        ws.send("same")

    @app.websocket("/open", origins="*")
    def open_route(ws: Any) -> None:
        ws.send("open")

    client = TestClient(app)
    evil = {"Origin": "https://evil.example"}
    with pytest.raises(HandshakeError) as excinfo:
        client.websocket_connect("/same", headers=evil)
    assert excinfo.value.status == 403
    with client.websocket_connect(
        "/same", headers={"Origin": "http://localhost"}
    ) as ws:
        assert ws.receive() == "same"
    with client.websocket_connect("/open", headers=evil) as ws:
        assert ws.receive() == "open"

    relaxed = WSocketApp(origins=["https://evil.example"])

    @relaxed.websocket("/ws")
    def relaxed_ws(ws: Any) -> None:
        ws.send("ok")

    @relaxed.websocket("/strict", origins=None)
    def strict_ws(ws: Any) -> None:
        ws.send("strict")

    client = TestClient(relaxed)
    with client.websocket_connect("/ws", headers=evil) as ws:
        assert ws.receive() == "ok"
    # A route's origins=None brings back the same-origin default.
    with pytest.raises(HandshakeError) as excinfo:
        client.websocket_connect("/strict", headers=evil)
    assert excinfo.value.status == 403


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"origins": "https://example.com"}, "pass '\\*'"),
        ({"origins": ["https://a.*.example.com"]}, "bad pattern"),
        ({"trusted_proxies": ["proxy.internal"]}, "not an IP address"),
    ],
)
def test_bad_options_fail_at_construction(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        WebSocketMiddleware(echo_app, **options)
