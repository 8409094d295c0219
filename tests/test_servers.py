"""Tests for wsocket.servers: the Adapter base, the registry and the 101 helpers."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from helpers import MS, tcp_pair

import wsocket.servers as servers
from wsocket.servers import (
    Adapter,
    buffered_bytes,
    find_adapter,
    note_unanswered_upgrade,
    register_adapter,
    response_101,
    write_101,
)

HEADERS = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
]

UPGRADE = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/chat",
    "HTTP_UPGRADE": "websocket",
    "HTTP_CONNECTION": "Upgrade",
}


def test_response_101_serialises_the_headers_in_order() -> None:
    assert response_101(HEADERS) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )


def test_buffered_bytes_hands_over_what_the_reader_read_past_the_request() -> None:
    a, b = tcp_pair()
    with a, b:
        b.sendall(b"GET / HTTP/1.1\r\n\r\n\x81\x02hi")
        rfile = a.makefile("rb")
        assert rfile.readline() == b"GET / HTTP/1.1\r\n"
        assert rfile.readline() == b"\r\n"
        a.settimeout(5000 * MS)
        # The first frame arrived with the head: it is in rfile's buffer.
        assert buffered_bytes(rfile, a) == b"\x81\x02hi"
        # Nothing more is there; the socket's timeout is left as it was.
        assert buffered_bytes(rfile, a) == b""
        assert a.gettimeout() == 5000 * MS
        rfile.close()


def test_buffered_bytes_without_a_buffered_reader_is_empty() -> None:
    a, b = tcp_pair()
    with a, b:
        assert buffered_bytes(io.StringIO("not a byte reader"), a) == b""


def test_write_101_records_the_status_and_writes_the_response() -> None:
    a, b = tcp_pair()
    with a, b:
        a.settimeout(1.0)
        recorded: list[Any] = []
        extra = write_101(a, HEADERS, lambda *args: recorded.append(args))
        assert extra == b""
        assert recorded == [("101 Switching Protocols", HEADERS)]
        assert a.gettimeout() is None  # an HTTP read timeout must not cut a session
        b.settimeout(5000 * MS)
        expected = response_101(HEADERS)
        received = b""
        while len(received) < len(expected):
            received += b.recv(4096)
        assert received == expected


class Fake(Adapter):
    name = "fake"

    def matches(self, environ: Any) -> bool:
        return "fake.socket" in environ


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered adapters for one test only."""
    monkeypatch.setattr(servers, "_adapters", [])


@pytest.mark.usefixtures("registry")
def test_registered_adapters_are_tried_first_unless_told_otherwise() -> None:
    first, last = Fake(), Fake()
    register_adapter(first)
    register_adapter(last, first=False)
    environ = dict(UPGRADE, **{"fake.socket": object()})
    assert find_adapter(environ) is first
    # A registered adapter is tried before the built-in ones: here, before
    # wsocket's own server's.
    environ["wsocket.take_over"] = lambda: None
    assert find_adapter(environ) is first
    assert find_adapter({"wsocket.take_over": None}).name == "wsocket"


@pytest.mark.usefixtures("registry")
def test_only_adapters_can_be_registered() -> None:
    with pytest.raises(TypeError, match="takes an Adapter instance"):
        register_adapter(Fake)  # type: ignore[arg-type]


def test_an_unknown_server_gets_an_adapter_that_refuses_with_advice(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = find_adapter(dict(UPGRADE))
    assert adapter.name == "unknown"
    reason = adapter.refusal_for(UPGRADE)
    assert reason is not None and "register_adapter()" in reason
    monkeypatch.setattr(type(adapter), "_refusal_logged", False)
    answers: list[Any] = []
    with caplog.at_level(logging.ERROR, logger="wsocket.server"):
        for _ in range(2):
            body = adapter.refuse(UPGRADE, lambda *args: answers.append(args))
            assert b"".join(body) == (reason + "\n").encode()
    status, headers = answers[0]
    assert status == "501 Not Implemented"
    assert ("Content-Length", str(len(reason) + 1)) in headers
    # Logged once per process, not once per request.
    assert [r.getMessage() for r in caplog.records] == [reason]


def test_the_base_adapter_defaults() -> None:
    adapter = Fake()
    environ = dict(UPGRADE)
    adapter.prepare(environ)
    assert environ == UPGRADE
    assert adapter.refusal_for(environ) is None
    assert list(adapter.finish(environ, lambda *args: None)) == []
    assert adapter.close_socket is True
    with pytest.raises(NotImplementedError):
        adapter.take_over(environ, lambda *args: None, HEADERS)


def test_an_unanswered_upgrade_is_hinted_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servers, "_hinted", False)
    with caplog.at_level(logging.WARNING, logger="wsocket.server"):
        # Not an upgrade, or one the middleware saw: no hint.
        note_unanswered_upgrade({"PATH_INFO": "/"}, "200 OK")
        note_unanswered_upgrade(dict(UPGRADE, **{"wsocket.middleware": 1}), "403")
        assert caplog.records == []
        note_unanswered_upgrade(UPGRADE, "200 OK")
        note_unanswered_upgrade(UPGRADE, "200 OK")
    [record] = caplog.records
    assert "wsocket.WebSocketMiddleware(app)" in record.getMessage()
    assert "/chat" in record.getMessage()
