"""Idle and closing timeouts of the WebSocket object and the middleware."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from wsocket import WebSocketMiddleware
from wsocket.app import WSocketApp
from wsocket.connection import WebSocket
from wsocket.protocol import CLIENT, SERVER, Protocol


def pair(**server_options):
    a, b = socket.socketpair()
    server = WebSocket(a, Protocol(SERVER), **server_options)
    client = WebSocket(b, Protocol(CLIENT), close_timeout=2)
    return server, client


def test_idle_connection_is_closed_with_1001():
    server, client = pair(idle_timeout=0.3, close_timeout=2)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("c", client.receive(5)))
    reader.start()
    started = time.monotonic()
    assert server.receive(timeout=10) is None
    elapsed = time.monotonic() - started
    reader.join(5)
    assert not reader.is_alive()
    assert got["c"] is None
    assert (client.close_code, client.close_reason) == (1001, "idle timeout")
    assert server.close_code == 1001
    assert elapsed < 3


@pytest.mark.integration  # seconds of real time
def test_messages_keep_a_connection_from_being_idle():
    server, client = pair(idle_timeout=0.4)
    try:
        for i in range(6):
            client.send(str(i))
            assert server.receive(timeout=5) == str(i)
            time.sleep(0.1)  # spaced sends, each well inside the idle limit
        assert not server.closed
    finally:
        client.close()
        server.close()


@pytest.mark.integration  # seconds of real time
def test_pings_do_not_count_as_messages():
    server, client = pair(idle_timeout=0.3, close_timeout=2)
    stop = threading.Event()

    def pinger():
        while not stop.is_set() and not client.closed:
            try:
                client.ping()
            except Exception:
                return
            stop.wait(0.05)

    threading.Thread(target=pinger, daemon=True).start()
    try:
        started = time.monotonic()
        assert server.receive(timeout=5) is None
        # The client never reads, so it never answers the Close: the server
        # still reports the 1001 it went away with, after close_timeout.
        assert (server.close_code, server.close_reason) == (1001, "idle timeout")
        assert time.monotonic() - started < 0.3 + 2 + 1
    finally:
        stop.set()
        client.abort()


def test_close_waits_no_longer_than_close_timeout_for_a_silent_peer():
    a, b = socket.socketpair()
    server = WebSocket(a, Protocol(SERVER), close_timeout=0.3)
    try:
        server.start_close(1000)
        started = time.monotonic()
        # The peer (b) never answers: receive() gives up after close_timeout.
        assert server.receive(timeout=10) is None
        assert time.monotonic() - started < 3
        assert server.sock.fileno() == -1
    finally:
        b.close()


def test_options_are_validated_and_reach_routes():
    with pytest.raises(ValueError, match="idle_timeout"):
        WebSocketMiddleware(lambda e, s: [], idle_timeout=0)
    app = WSocketApp(idle_timeout=30)
    assert app.websocket_options["idle_timeout"] == 30
