"""Tests for wsocket.middleware: WebSocketMiddleware and handles_websockets().

The middleware runs under wsocket's own server (a real socket, spoken to by
the ``websockets`` library) and under the TestClient; the origin options
have their own file, test_origin_policy.py.
"""

from __future__ import annotations

import http.client
import logging
import weakref
from typing import Any

import pytest
from helpers import MS, assert_echoes, serving, wait_for

import wsocket.middleware
from wsocket import WSocketApp
from wsocket.exceptions import HandshakeError
from wsocket.middleware import WebSocketMiddleware, handles_websockets
from wsocket.registry import open_websockets
from wsocket.testing import TestClient

TIMEOUT = 5000 * MS


def hello_or_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Hello, HTTP"]
    for message in ws:
        ws.send(message)
    return []


def connect(port: int, path: str = "/", **options: Any) -> Any:
    from websockets.sync.client import connect

    return connect(f"ws://127.0.0.1:{port}{path}", open_timeout=TIMEOUT, **options)


def test_plain_http_reaches_the_app_untouched() -> None:
    with serving(WebSocketMiddleware(hello_or_echo)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"Hello, HTTP")
        conn.close()


def test_an_upgrade_gets_an_open_websocket_over_a_real_socket() -> None:
    with serving(WebSocketMiddleware(hello_or_echo, subprotocols=["b", "a"])) as port:
        with connect(port, subprotocols=["a", "b"]) as ws:
            # The server's preference wins among those the client offers.
            assert ws.subprotocol == "b"
            ws.send("text")
            assert ws.recv(TIMEOUT) == "text"
            ws.send(b"\x00\xff")
            assert ws.recv(TIMEOUT) == b"\x00\xff"
        # The app returned when the client closed: nothing stays registered.
        assert wait_for(lambda: not open_websockets(), TIMEOUT)


def test_environ_carries_the_websocket_and_its_version() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["version"] = environ["wsgi.websocket_version"]
        seen["middleware"] = environ["wsocket.middleware"]
        environ["wsgi.websocket"].send("hi")
        return []

    wrapped = WebSocketMiddleware(app)
    with TestClient(wrapped).websocket_connect("/") as ws:
        assert ws.receive(timeout=TIMEOUT) == "hi"
        assert ws.receive(timeout=TIMEOUT) is None
        assert ws.close_code == 1000
    assert seen == {"version": "13", "middleware": wrapped}


@pytest.mark.parametrize(
    "headers,status",
    [
        ({"Sec-WebSocket-Version": "12"}, 426),
        ({"Sec-WebSocket-Key": "short"}, 400),
    ],
)
def test_a_bad_handshake_is_refused_with_a_reason(
    headers: dict[str, str], status: int
) -> None:
    with serving(WebSocketMiddleware(hello_or_echo)) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        request = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
        request.update(headers)
        conn.request("GET", "/", headers=request)
        response = conn.getresponse()
        body = response.read()
        conn.close()
    assert response.status == status
    assert body.strip(), "the refusal says why"


def test_an_exception_in_the_app_closes_1011_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.websocket"].receive()
        raise RuntimeError("handler broke")

    with caplog.at_level(logging.ERROR, logger="wsocket.server"):
        client = TestClient(WebSocketMiddleware(app), raise_server_exceptions=False)
        with client.websocket_connect("/") as ws:
            ws.send("go")
            assert ws.receive(timeout=TIMEOUT) is None
            assert ws.close_code == 1011
    [record] = [r for r in caplog.records if r.name == "wsocket.server"]
    assert "error in WebSocket handler for /" in record.getMessage()
    assert record.exc_info is not None and "handler broke" in str(record.exc_info[1])


@pytest.mark.parametrize(
    "status,code,reason",
    [
        ("200 OK", 1000, ""),
        ("404 Not Found", 1008, "404 Not Found"),
        ("500 Internal Server Error", 1011, ""),
    ],
)
def test_what_the_app_answers_after_the_101_picks_the_close_code(
    status: str, code: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain")])
        return [b"dropped: the 101 is on the wire already"]

    with caplog.at_level(logging.ERROR, logger="wsocket.server"):
        with TestClient(WebSocketMiddleware(app)).websocket_connect("/") as ws:
            assert ws.receive(timeout=TIMEOUT) is None
            assert (ws.close_code, ws.close_reason) == (code, reason)


def test_wrapping_twice_is_harmless() -> None:
    inner = WebSocketMiddleware(hello_or_echo)
    with TestClient(WebSocketMiddleware(inner)).websocket_connect("/") as ws:
        ws.send("once")
        assert ws.receive(timeout=TIMEOUT) == "once"


def test_a_message_over_the_limit_closes_1009() -> None:
    app = WebSocketMiddleware(hello_or_echo, max_message_size=10)
    with serving(app) as port, connect(port) as ws:
        ws.send("x" * 10)
        assert ws.recv(TIMEOUT) == "x" * 10
        ws.send("x" * 11)
        from websockets.exceptions import ConnectionClosedError

        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(TIMEOUT)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


@pytest.mark.parametrize(
    "options,error,message",
    [
        ({"max_message_size": 0}, ValueError, "max_message_size must be a positive"),
        ({"idle_timeout": 0}, ValueError, "idle_timeout must be a positive"),
    ],
)
def test_bad_options_are_refused_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        WebSocketMiddleware(hello_or_echo, **options)


def test_the_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app must be a WSGI callable"):
        WebSocketMiddleware("module:app")  # type: ignore[arg-type]


def test_handles_websockets_recognises_what_answers_upgrades() -> None:
    class Flaskish:
        def __init__(self, wsgi_app: Any) -> None:
            self.wsgi_app = wsgi_app

    assert handles_websockets(WebSocketMiddleware(hello_or_echo))
    assert handles_websockets(WSocketApp())
    assert handles_websockets(Flaskish(WebSocketMiddleware(hello_or_echo)))
    assert not handles_websockets(hello_or_echo)
    assert not handles_websockets(Flaskish(hello_or_echo))


def test_an_unknown_server_gets_a_501_that_says_what_to_do() -> None:
    # A hand-made environ from no known server: nothing to take over.
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "example.com",
        "HTTP_UPGRADE": "websocket",
        "HTTP_CONNECTION": "Upgrade",
        "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
        "HTTP_SEC_WEBSOCKET_VERSION": "13",
        "wsgi.url_scheme": "http",
    }
    answers: list[Any] = []
    body = WebSocketMiddleware(hello_or_echo)(
        environ, lambda status, headers: answers.append((status, headers))
    )
    assert answers[0][0] == "501 Not Implemented"
    assert b"register an adapter" in b"".join(body)


def test_a_refusal_reaches_the_test_client_as_a_handshake_error() -> None:
    app = WebSocketMiddleware(hello_or_echo, origins=["https://example.com"])
    with pytest.raises(HandshakeError) as info:
        TestClient(app).websocket_connect(
            "/", headers={"Origin": "https://evil.example"}
        )
    assert info.value.status == 403


def test_a_session_does_not_keep_the_handshake(monkeypatch: pytest.MonkeyPatch) -> None:
    # The handshake's response headers are sent with the 101; the session,
    # which may last hours, does not hold on to them.
    handshakes: list[weakref.ref[Any]] = []
    original = wsocket.middleware.server_handshake

    def recording_handshake(*args: Any, **kwargs: Any) -> Any:
        handshake = original(*args, **kwargs)
        handshakes.append(weakref.ref(handshake))
        return handshake

    monkeypatch.setattr(wsocket.middleware, "server_handshake", recording_handshake)
    alive_during_session: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        ws = environ["wsgi.websocket"]
        alive_during_session.extend(ref() is not None for ref in handshakes)
        for message in ws:
            ws.send(message)
        return []

    with serving(WebSocketMiddleware(app)) as port:
        assert_echoes(port, "/")
    assert alive_during_session == [False]
