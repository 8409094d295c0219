"""Tests for wsocket.servers.uwsgi: taking a uWSGI connection over.

uWSGI's ``uwsgi`` module only exists inside a uWSGI worker, so here a
stand-in module offers ``connection_fd()`` over one end of a real socket
pair and the options uWSGI was started with; the integration matrix runs the
real uWSGI where it is installed.
"""

from __future__ import annotations

import socket
import sys
import types
from typing import Any

import pytest
from helpers import MS, fd_is_open, tcp_pair

from wsocket.servers import find_adapter
from wsocket.servers.uwsgi import ADAPTER, HTTPS_SOCKET_REFUSAL

HEADERS = [("Upgrade", "websocket"), ("Connection", "Upgrade")]


def fake_uwsgi(
    monkeypatch: pytest.MonkeyPatch, fd: int = -1, **attributes: Any
) -> types.ModuleType:
    module = types.ModuleType("uwsgi")
    module.connection_fd = lambda: fd  # type: ignore[attr-defined]
    for name, value in attributes.items():
        setattr(module, name, value)
    monkeypatch.setitem(sys.modules, "uwsgi", module)
    return module


def test_the_environ_is_recognised_by_uwsgi_version() -> None:
    assert find_adapter({"uwsgi.version": b"2.0.28"}) is ADAPTER
    assert not ADAPTER.matches({"wsgi.input": object()})


@pytest.mark.parametrize(
    "opt,environ,refused",
    [
        ({}, {"wsgi.url_scheme": "https"}, False),
        ({"https-socket": b":443"}, {"wsgi.url_scheme": "http"}, False),
        ({"https-socket": b":443"}, {"wsgi.url_scheme": "https"}, True),
        ({"https-socket": b":443"}, {"HTTPS": "on"}, True),
    ],
)
def test_tls_in_the_worker_is_refused_with_advice(
    monkeypatch: pytest.MonkeyPatch,
    opt: dict[str, bytes],
    environ: dict[str, str],
    refused: bool,
) -> None:
    fake_uwsgi(monkeypatch, opt=opt)
    expected = HTTPS_SOCKET_REFUSAL if refused else None
    assert ADAPTER.refusal_for(environ) == expected
    assert "Terminate TLS in front of uWSGI" in HTTPS_SOCKET_REFUSAL


def test_take_over_duplicates_the_descriptor_in_blocking_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = tcp_pair()
    with a, b:
        a.setblocking(False)  # as uWSGI leaves it
        fake_uwsgi(monkeypatch, fd=a.fileno(), loop=b"threads")
        sent: list[Any] = []

        def start_response(status: str, headers: Any) -> Any:
            sent.append((status, headers))
            return lambda data: sent.append(data)

        sock, extra = ADAPTER.take_over({}, start_response, HEADERS)
        with sock:
            assert extra == b""
            # uWSGI writes the 101 itself, on write(b"").
            assert sent == [("101 Switching Protocols", HEADERS), b""]
            assert isinstance(sock, socket.socket)
            assert sock.fileno() != a.fileno() and sock.gettimeout() is None
            sock.sendall(b"through the duplicate")
            b.settimeout(5000 * MS)
            assert b.recv(100) == b"through the duplicate"
            duplicate = sock.fileno()
        # The WebSocket closes its duplicate; uWSGI's own descriptor stays.
        assert not fd_is_open(duplicate) and fd_is_open(a.fileno())
    assert ADAPTER.close_socket is True
    assert list(ADAPTER.finish({}, start_response)) == []
