"""Tests for wsocket.servers.wsocket: the adapter of wsocket's own server."""

from __future__ import annotations

import weakref
from typing import Any, Optional

import pytest
from helpers import MS, assert_echoes, serving, tcp_pair

from wsocket.http11 import RequestHead, RequestReader
from wsocket.middleware import WebSocketMiddleware
from wsocket.servers import find_adapter, response_101
from wsocket.servers.wsocket import ADAPTER, WsocketAdapter

HEADERS = [("Upgrade", "websocket"), ("Connection", "Upgrade")]


def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    ws = environ["wsgi.websocket"]
    for message in ws:
        ws.send(message)
    return []


def test_upgrades_under_wsocket_s_server_find_this_adapter() -> None:
    found: list[Any] = []
    inner = WebSocketMiddleware(echo)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        found.append(find_adapter(environ))
        return inner(environ, start_response)

    with serving(app) as port:
        assert_echoes(port, "/")
    assert found == [ADAPTER]
    assert isinstance(ADAPTER, WsocketAdapter) and ADAPTER.name == "wsocket"
    assert ADAPTER.refusal is None and ADAPTER.close_socket


def test_take_over_writes_the_101_and_returns_the_bytes_read_past_the_head() -> None:
    a, b = tcp_pair()
    with a, b:
        environ = {"wsocket.take_over": lambda: (a, bytearray(b"\x81\x00"))}
        sock, extra = ADAPTER.take_over(environ, None, HEADERS)
        assert sock is a
        assert extra == b"\x81\x00" and type(extra) is bytes
        b.settimeout(5000 * MS)
        expected = response_101(HEADERS)
        received = b""
        while len(received) < len(expected):
            received += b.recv(4096)
        assert received == expected


def test_websockets_work_end_to_end() -> None:
    with serving(WebSocketMiddleware(echo)) as port:
        assert_echoes(port, "/")
        assert_echoes(port, "/", compression=None)


def test_a_session_does_not_keep_the_parsed_request_head(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The environ says all the application needs; the head, with its list of
    # header pairs, would otherwise stay alive as long as the WebSocket.
    heads: list[weakref.ref[RequestHead]] = []
    read = RequestReader.read

    def recording_read(self: RequestReader, buf: bytearray) -> Optional[RequestHead]:
        head = read(self, buf)
        if head is not None:
            heads.append(weakref.ref(head))
        return head

    monkeypatch.setattr(RequestReader, "read", recording_read)
    alive_during_session: list[bool] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        alive_during_session.extend(ref() is not None for ref in heads)
        return echo(environ, start_response)

    with serving(WebSocketMiddleware(app)) as port:
        assert_echoes(port, "/")
    assert alive_during_session == [False]


class _Greeter:
    def __init__(self, word: bytes) -> None:
        self.word = word

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [self.word]


class _SubGreeter(_Greeter):
    pass


class _StaticApp:
    @staticmethod
    def __call__(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"static"]


@pytest.mark.parametrize(
    "app, body",
    [
        (_Greeter(b"hello"), b"hello"),
        (_SubGreeter(b"inherited"), b"inherited"),
        (_StaticApp(), b"static"),
    ],
)
def test_applications_that_are_instances_are_called_as_instances(
    app: Any, body: bytes
) -> None:
    # The server calls a Python __call__ as a bound method (one C frame less
    # under a waiting greenlet); the application must not see a difference.
    from urllib.request import urlopen

    with serving(app) as port:
        with urlopen(f"http://127.0.0.1:{port}/", timeout=10000 * MS) as reply:
            assert reply.read() == body


def test_an_app_replaced_on_the_server_is_the_one_called() -> None:
    # How to call the app is worked out once, not per request; replacing
    # server.app must still take effect at the next request.
    import threading
    from urllib.request import urlopen

    from wsocket.server import make_server

    def first(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        return [b"first"]

    class Second:
        def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Length", "6")])
            return [b"second"]

    server = make_server(first, "127.0.0.1", 0, "threading")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.port}/"
        with urlopen(url, timeout=10000 * MS) as reply:
            assert reply.read() == b"first"
        server.app = Second()
        with urlopen(url, timeout=10000 * MS) as reply:
            assert reply.read() == b"second"
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()


def _get_with_headers(port: int, names: list[str]) -> None:
    import socket

    head = "".join(f"{name}: 1\r\n" for name in names)
    with socket.create_connection(("127.0.0.1", port), 10000 * MS) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode())
        while sock.recv(4096):
            pass


def test_requests_share_their_environ_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # An environ lives as long as its WebSocket: the keys made of header
    # names are made once, not once per connection.
    import wsocket.server

    monkeypatch.setattr(wsocket.server, "_environ_keys", {})
    monkeypatch.setattr(wsocket.server, "_ENVIRON_KEYS_MAX", 3)
    keys: list[list[str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        keys.append([key for key in environ if key.startswith("HTTP_X_")])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    names = ["Host", "X-One", "X-Two", "X-Three"]
    with serving(app) as port:
        _get_with_headers(port, names)
        _get_with_headers(port, names)
    first, second = keys
    assert first == second == ["HTTP_X_ONE", "HTTP_X_TWO", "HTTP_X_THREE"]
    # Host, X-One and X-Two are remembered and shared; X-Three is past the
    # bound, and so is Connection.
    assert [a is b for a, b in zip(first, second)] == [True, True, False]
    assert list(wsocket.server._environ_keys) == ["Host", "X-One", "X-Two"]
