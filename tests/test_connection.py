"""Tests for wsocket.connection: the blocking WebSocket over real sockets.

Both ends are real: a socketpair or a loopback TCP connection, with a
:class:`~wsocket.connection.WebSocket` on each side, or a raw peer that
writes frames by hand (``helpers.RawPeer``) where a test needs a peer that
misbehaves or stays silent. The gevent checks run in subprocesses, so that
monkey-patching never reaches this process.
"""

from __future__ import annotations

import ast
import os
import select
import socket
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from helpers import (
    MS,
    Background,
    FdTracker,
    RawPeer,
    ServerThread,
    echo,
    encode_frame,
    fd_is_open,
    socket_pair,
    subprocess_env,
    wait_for,
    ws_pair,
)

import wsocket
from wsocket.connection import WebSocket
from wsocket.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    WebSocketError,
)
from wsocket.protocol import CLIENT, SERVER, Protocol

TRANSPORTS = ["socketpair", "tcp"]

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    tracker = FdTracker()
    yield
    tracker.check()


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    """Abort the WebSockets and close the sockets a test leaves behind."""
    items: list[Any] = []
    yield items
    for item in reversed(items):
        if isinstance(item, WebSocket):
            item.abort()
            if not item.close_socket:
                item.sock.close()
        else:
            item.close()


@pytest.fixture
def make_pair(cleanup: list[Any]) -> Callable[..., tuple[WebSocket, WebSocket]]:
    def make(
        transport: str = "socketpair", **kwargs: Any
    ) -> tuple[WebSocket, WebSocket]:
        server, client = ws_pair(transport, **kwargs)
        cleanup.extend([server, client])
        return server, client

    return make


@pytest.fixture
def make_raw(cleanup: list[Any]) -> Callable[..., tuple[WebSocket, RawPeer]]:
    """A server-side WebSocket whose peer is a RawPeer in the client role."""

    def make(transport: str = "socketpair", **kwargs: Any) -> tuple[WebSocket, RawPeer]:
        max_message_size = kwargs.pop("max_message_size", 2**20)
        server_sock, client_sock = socket_pair(transport)
        ws = WebSocket(
            server_sock, Protocol(SERVER, max_message_size=max_message_size), **kwargs
        )
        raw = RawPeer(client_sock)
        cleanup.extend([client_sock, ws])
        return ws, raw

    return make


# -- Messages -----------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "message",
    [
        "hello",
        "h\xe9llo \u20ac \U0001f600",
        b"\x00\xffbinary",
        "",
        b"",
        "x" * 126,
        b"y" * 70000,
    ],
    ids=[
        "text",
        "unicode",
        "binary",
        "empty-text",
        "empty-binary",
        "text-126",
        "binary-70000",
    ],
)
def test_echo(make_pair: Any, transport: str, message: Any) -> None:
    server, client = make_pair(transport)
    task = Background(echo, server)
    client.send(message)
    answer = client.receive(timeout=5000 * MS)
    assert type(answer) is type(message)
    assert answer == message
    client.close()
    task.result()
    assert client.close_code == 1000
    assert server.close_code == 1000


@pytest.mark.integration  # messages of 16 MiB: seconds each
@pytest.mark.parametrize(
    "transport, message",
    [
        ("socketpair", os.urandom(16 * 2**20)),
        ("tcp", os.urandom(16 * 2**20)),
        ("tcp", "\u20ac" * (16 * 2**20 // 3)),
    ],
    ids=["socketpair-binary", "tcp-binary", "tcp-text"],
)
def test_echo_16_mib(make_pair: Any, transport: str, message: Any) -> None:
    server, client = make_pair(transport, max_message_size=None)
    task = Background(echo, server)
    client.send(message)
    answer = client.receive(timeout=30000 * MS)
    assert type(answer) is type(message)
    assert answer == message
    client.close()
    task.result()


def test_the_rest_of_a_large_frame_is_read_in_larger_reads(cleanup: list[Any]) -> None:
    sizes: list[int] = []

    class Recording(socket.socket):
        def recv(self, size: int, *args: Any) -> bytes:
            sizes.append(size)
            return super().recv(size, *args)

    server_sock, client_sock = socket.socketpair()
    server_sock = Recording(fileno=server_sock.detach())
    ws = WebSocket(server_sock, Protocol(SERVER, max_message_size=None))
    raw = RawPeer(client_sock)
    cleanup.extend([client_sock, ws])
    payload = os.urandom(3 * 2**20)
    task = Background(lambda: raw.send_frame(BINARY, payload))
    assert ws.receive(timeout=10000 * MS) == payload
    task.result()
    # The first read takes the header; the next ones ask for the rest of
    # the frame, at most 1 MiB at a time, not 64 KiB.
    assert sizes[0] == 65536
    assert max(sizes) == 2**20
    assert len(sizes) < 3 * 2**20 // 65536


def test_default_limit_fails_oversized_message_with_1009(make_raw: Any) -> None:
    ws, raw = make_raw(max_message_size=1000)
    raw.send_frame(BINARY, b"x" * 1001)
    assert ws.receive(timeout=5000 * MS) is None
    assert ws.close_code == 1009
    close = raw.read_until(lambda frame: frame.opcode == CLOSE)
    assert close.close_code == 1009


def test_send_binary_flag(make_pair: Any) -> None:
    server, client = make_pair()
    client.send("\xe9", binary=True)
    assert server.receive(timeout=5000 * MS) == b"\xc3\xa9"
    client.send(b"abc", binary=False)
    assert server.receive(timeout=5000 * MS) == "abc"
    client.send(bytearray(b"ba"))
    client.send(memoryview(b"mv"))
    assert server.receive(timeout=5000 * MS) == b"ba"
    assert server.receive(timeout=5000 * MS) == b"mv"


@pytest.mark.parametrize("value", [{"a": 1}, 42, None, ["x"]])
def test_send_rejects_other_types(make_pair: Any, value: Any) -> None:
    server, client = make_pair()
    with pytest.raises(TypeError) as excinfo:
        client.send(value)
    message = str(excinfo.value)
    assert type(value).__name__ in message
    assert "str or bytes" in message
    assert "json.dumps" in message
    # Nothing reached the peer and the connection is still usable.
    client.send("still open")
    assert server.receive(timeout=5000 * MS) == "still open"


def test_send_dict_with_binary_flag_is_rejected(make_pair: Any) -> None:
    _, client = make_pair()
    with pytest.raises(TypeError, match="str or bytes"):
        client.send({"a": 1}, binary=True)


# -- Timeouts -----------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_receive_timeout_then_still_usable(make_pair: Any, transport: str) -> None:
    server, client = make_pair(transport)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.receive(timeout=50 * MS)
    assert time.monotonic() - start < 2000 * MS
    with pytest.raises(TimeoutError):
        client.receive(timeout=0)
    server.send("later")
    assert client.receive(timeout=5000 * MS) == "later"
    client.send("and back")
    assert server.receive(timeout=5000 * MS) == "and back"
    assert not client.closed and not server.closed


def test_receive_timeout_in_the_middle_of_a_frame(make_raw: Any) -> None:
    ws, raw = make_raw()
    frame = encode_frame(TEXT, b"split across two writes")
    raw.sock.sendall(frame[:9])
    with pytest.raises(TimeoutError):
        ws.receive(timeout=50 * MS)
    raw.sock.sendall(frame[9:])
    assert ws.receive(timeout=5000 * MS) == "split across two writes"


def test_receive_returns_queued_message_with_zero_timeout(make_pair: Any) -> None:
    server, client = make_pair()
    server.send("one")
    server.send("two")
    assert client.receive(timeout=5000 * MS) == "one"
    # The second message may already be buffered; it must come out either way.
    assert wait_for(lambda: _try_receive(client)) == "two"


def _try_receive(ws: WebSocket) -> Optional[Any]:
    try:
        return ws.receive(timeout=0)
    except TimeoutError:
        return None


# -- Closing ------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("closer", ["server", "client"])
@pytest.mark.parametrize(
    "code, reason", [(1000, "bye"), (1001, ""), (4000, "application code")]
)
def test_peer_closes_with_code(
    make_pair: Any, transport: str, closer: str, code: int, reason: str
) -> None:
    server, client = make_pair(transport)
    active, passive = (server, client) if closer == "server" else (client, server)
    task = Background(active.close, code, reason)
    assert passive.receive(timeout=5000 * MS) is None
    task.result()
    assert passive.closed and active.closed
    assert (passive.close_code, passive.close_reason) == (code, reason)
    # The active side reports the code of the echo it received (RFC 6455
    # 7.1.5: "the first Close control frame received").
    assert active.close_code == code


def test_close_frame_without_status_gives_1005(make_raw: Any) -> None:
    ws, raw = make_raw()
    raw.send_close(None)
    assert ws.receive(timeout=5000 * MS) is None
    assert ws.close_code == 1005
    assert ws.close_reason == ""
    # The echo carries no status either: 1005 must never be sent.
    frames = raw.read_eof()
    assert [frame.opcode for frame in frames] == [CLOSE]
    assert frames[0].payload == b""
    with pytest.raises(ConnectionClosedOK) as excinfo:
        ws.send("late")
    assert excinfo.value.code == 1005


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_peer_drops_tcp_gives_1006(make_pair: Any, transport: str) -> None:
    server, client = make_pair(transport)
    task = Background(server.receive)
    client.abort()
    assert task.result() is None
    assert server.closed
    assert server.close_code == 1006
    assert client.close_code == 1006


@pytest.mark.parametrize(
    "frame, code",
    [
        (encode_frame(TEXT, b"unmasked", mask=False), 1002),
        (encode_frame(0x3, b"reserved opcode"), 1002),
        (encode_frame(TEXT, b"rsv1", rsv=4), 1002),
        (encode_frame(TEXT, b"rsv2", rsv=2), 1002),
        (encode_frame(PING, b"fragmented ping", fin=False), 1002),
        (encode_frame(PING, b"p" * 126), 1002),
        (encode_frame(CONT, b"nothing to continue"), 1002),
        (encode_frame(TEXT, b"first", fin=False) + encode_frame(TEXT, b"second"), 1002),
        (encode_frame(CLOSE, b"\x03"), 1002),
        (encode_frame(CLOSE, (999).to_bytes(2, "big")), 1002),
        (encode_frame(TEXT, b"\xff\xfe invalid utf-8"), 1007),
        (encode_frame(CLOSE, (1000).to_bytes(2, "big") + b"\xff"), 1007),
    ],
    ids=[
        "unmasked",
        "reserved-opcode",
        "rsv1",
        "rsv2",
        "fragmented-ping",
        "long-ping",
        "lone-continuation",
        "interleaved-messages",
        "one-byte-close",
        "invalid-close-code",
        "invalid-utf8",
        "invalid-utf8-reason",
    ],
)
def test_protocol_violation_fails_connection(
    make_raw: Any, frame: bytes, code: int
) -> None:
    ws, raw = make_raw()
    task = Background(ws.receive)
    raw.sock.sendall(frame)
    assert task.result() is None
    assert ws.close_code == code
    frames = raw.read_eof()
    assert [f.opcode for f in frames] == [CLOSE]
    assert frames[0].close_code == code
    with pytest.raises(ConnectionClosedError) as excinfo:
        ws.send("late")
    assert excinfo.value.code == code


def test_messages_before_close_are_returned(make_raw: Any) -> None:
    ws, raw = make_raw()
    raw.sock.sendall(
        encode_frame(TEXT, b"first")
        + encode_frame(BINARY, b"second")
        + encode_frame(TEXT, b"thi", fin=False)
        + encode_frame(CONT, b"rd")
        + encode_frame(CLOSE, (1000).to_bytes(2, "big") + b"done")
    )
    assert ws.receive(timeout=5000 * MS) == "first"
    assert ws.receive(timeout=5000 * MS) == b"second"
    assert ws.receive(timeout=5000 * MS) == "third"
    assert ws.receive(timeout=5000 * MS) is None
    assert (ws.close_code, ws.close_reason) == (1000, "done")
    # None is told once; a loop that missed it ends instead of spinning.
    with pytest.raises(ConnectionClosedOK) as excinfo:
        ws.receive(timeout=5000 * MS)
    assert isinstance(excinfo.value, WebSocketError)
    assert (excinfo.value.code, excinfo.value.reason) == (1000, "done")


def test_messages_before_peer_drop_are_returned(make_raw: Any) -> None:
    ws, raw = make_raw()
    raw.sock.sendall(encode_frame(TEXT, b"one") + encode_frame(TEXT, b"two"))
    raw.sock.close()
    assert ws.receive(timeout=5000 * MS) == "one"
    assert ws.receive(timeout=5000 * MS) == "two"
    assert ws.receive(timeout=5000 * MS) is None
    assert ws.close_code == 1006


def test_iteration_ends_on_clean_close(make_pair: Any) -> None:
    server, client = make_pair()
    for message in ["a", b"b", "c"]:
        client.send(message)
    task = Background(client.close, 1001, "going away")
    assert list(server) == ["a", b"b", "c"]
    task.result()
    assert server.close_code == 1001


def test_iteration_ends_quietly_on_dropped_connection(make_pair: Any) -> None:
    server, client = make_pair()
    client.send("a")
    received = []
    task = Background(lambda: [received.append(message) for message in server])
    wait_for(lambda: received == ["a"])
    client.abort()
    task.result()
    assert received == ["a"]
    assert server.close_code == 1006


def test_iteration_ends_quietly_on_protocol_error(make_raw: Any) -> None:
    ws, raw = make_raw()
    raw.sock.sendall(encode_frame(TEXT, b"ok") + encode_frame(0x3, b"bad"))
    received = [message for message in ws]
    assert received == ["ok"]
    assert ws.close_code == 1002
    # Iterating again after the end is quiet too.
    assert list(ws) == []


def test_receive_after_abrupt_end_raises_error(make_pair: Any) -> None:
    server, client = make_pair()
    client.abort()
    assert server.receive(timeout=5000 * MS) is None
    assert server.close_code == 1006
    with pytest.raises(ConnectionClosedError) as excinfo:
        server.receive(timeout=5000 * MS)
    assert excinfo.value.code == 1006


def test_send_after_clean_close_raises_ok(make_pair: Any) -> None:
    server, client = make_pair()
    task = Background(server.receive)
    client.close(1000, "bye")
    assert task.result() is None
    for ws in (client, server):
        with pytest.raises(ConnectionClosedOK) as excinfo:
            ws.send("late")
        assert isinstance(excinfo.value, ConnectionClosed)
        assert excinfo.value.code == 1000
        with pytest.raises(ConnectionClosedOK):
            ws.ping()
        with pytest.raises(ConnectionClosedOK):
            ws.pong()
    assert server.close_reason == "bye"


def test_send_after_drop_raises_error(make_pair: Any) -> None:
    server, client = make_pair()
    client.abort()
    assert server.receive(timeout=5000 * MS) is None
    for ws in (client, server):
        with pytest.raises(ConnectionClosedError) as excinfo:
            ws.send(b"late")
        assert excinfo.value.code == 1006


def test_send_to_vanished_peer_raises_error(make_raw: Any) -> None:
    ws, raw = make_raw()
    raw.close()
    with pytest.raises(ConnectionClosedError) as excinfo:
        # The first write may still succeed; the next ones cannot.
        for _ in range(100):
            ws.send(b"x" * 65536)
    assert excinfo.value.code == 1006
    assert ws.closed


def test_close_twice_and_closed_property(make_pair: Any) -> None:
    server, client = make_pair()
    assert not client.closed and client.close_code is None
    task = Background(echo, server)
    client.close()
    client.close()
    task.result()
    assert client.closed
    assert client.close_code == 1000


@pytest.mark.parametrize("code, reason", [(1005, ""), (999, ""), (1000, "x" * 124)])
def test_close_rejects_invalid_arguments(
    make_pair: Any, code: int, reason: str
) -> None:
    _, client = make_pair()
    with pytest.raises(ValueError):
        client.close(code, reason)
    assert not client.closed


def test_context_manager_closes_with_1000_or_1011(make_pair: Any) -> None:
    server, client = make_pair()
    task = Background(server.receive)
    with client:
        pass
    assert task.result() is None
    assert server.close_code == 1000

    server, client = make_pair()
    task = Background(server.receive)
    with pytest.raises(RuntimeError), client:
        raise RuntimeError("boom")
    assert task.result() is None
    assert server.close_code == 1011


def test_fail_sends_close_and_drops(make_raw: Any) -> None:
    ws, raw = make_raw()
    ws.fail(4001, "bad client")
    frames = raw.read_eof()
    assert [(f.opcode, f.close_code, f.close_reason) for f in frames] == [
        (CLOSE, 4001, "bad client")
    ]
    assert ws.closed
    assert ws.close_code == 4001
    assert ws.receive(timeout=5000 * MS) is None


# -- Control frames -----------------------------------------------------------


def test_ping_answered_while_app_blocked_in_receive(make_raw: Any) -> None:
    ws, raw = make_raw()
    task = Background(ws.receive)
    raw.send_frame(PING, b"are you there")
    pong = raw.read_frame()
    assert pong is not None
    assert (pong.opcode, pong.payload) == (PONG, b"are you there")
    assert not task.done()  # the application is still waiting for a message
    raw.send_frame(TEXT, b"a message")
    assert task.result() == "a message"


def test_ping_between_fragments_is_answered(make_raw: Any) -> None:
    ws, raw = make_raw()
    task = Background(ws.receive)
    raw.send_frame(TEXT, b"frag", fin=False)
    raw.send_frame(PING, b"mid")
    pong = raw.read_frame()
    assert pong is not None and (pong.opcode, pong.payload) == (PONG, b"mid")
    raw.send_frame(CONT, b"ment")
    assert task.result() == "fragment"


def test_ping_and_pong_from_the_application(make_raw: Any) -> None:
    ws, raw = make_raw()
    ws.ping(b"1234")
    ws.ping("text")
    ws.pong(b"heartbeat")
    frames = [raw.read_frame() for _ in range(3)]
    assert [(f.opcode, f.payload) for f in frames if f] == [
        (PING, b"1234"),
        (PING, b"text"),
        (PONG, b"heartbeat"),
    ]
    # A pong from the peer is absorbed silently.
    raw.send_frame(PONG, b"1234")
    raw.send_frame(TEXT, b"after")
    assert ws.receive(timeout=5000 * MS) == "after"
    with pytest.raises(ValueError):
        ws.ping(b"x" * 126)


# -- Concurrency --------------------------------------------------------------


def _concurrent_message(tid: int, seq: int) -> str:
    # Sizes cross the 7-bit and 16-bit length encodings.
    filler = "abcdefghij"[tid] * ((seq * 37 + tid * 11) % 700)
    return f"{tid}:{seq}:{filler}"


def _check_concurrent_messages(messages: list[Any], threads: int, count: int) -> None:
    assert len(messages) == threads * count
    seen: dict[int, list[int]] = {tid: [] for tid in range(threads)}
    for message in messages:
        tid_text, seq_text, filler = message.split(":", 2)
        tid, seq = int(tid_text), int(seq_text)
        assert message == _concurrent_message(tid, seq)
        seen[tid].append(seq)
    for tid in range(threads):
        assert seen[tid] == list(range(count)), f"thread {tid} out of order"


def _send_concurrently(
    ws: WebSocket, threads: int, make: Callable[[int], Callable[[], None]]
) -> None:
    barrier = threading.Barrier(threads)

    def run(tid: int) -> None:
        barrier.wait(5000 * MS)
        make(tid)()

    tasks = [Background(run, tid) for tid in range(threads)]
    for task in tasks:
        task.result(60000 * MS)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_concurrent_senders_do_not_interleave(make_pair: Any, transport: str) -> None:
    server, client = make_pair(transport)
    threads, count = 8, 500
    received: list[Any] = []
    reader = Background(lambda: [received.append(message) for message in server])

    def sender(tid: int) -> Callable[[], None]:
        def send_all() -> None:
            for seq in range(count):
                client.send(_concurrent_message(tid, seq))

        return send_all

    _send_concurrently(client, threads, sender)
    client.close()
    reader.result(10000 * MS)
    _check_concurrent_messages(received, threads, count)


def test_concurrent_senders_against_websockets_library() -> None:
    from helpers import WebsocketsServer

    threads, count = 8, 500
    received: list[Any] = []

    def collect(connection: Any) -> None:
        for message in connection:
            received.append(message)

    with WebsocketsServer(collect, compression=None) as server:
        client = wsocket.connect(server.url, compression=None)
        with client:

            def sender(tid: int) -> Callable[[], None]:
                def send_all() -> None:
                    for seq in range(count):
                        client.send(_concurrent_message(tid, seq))

                return send_all

            _send_concurrently(client, threads, sender)
        wait_for(lambda: len(received) >= threads * count, 10000 * MS)
    _check_concurrent_messages(received, threads, count)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_concurrent_large_senders_do_not_interleave(
    make_pair: Any, transport: str
) -> None:
    server, client = make_pair(transport, max_message_size=None)
    threads, count, size = 8, 3, 2**20
    received: list[Any] = []
    reader = Background(lambda: [received.append(message) for message in server])

    def sender(tid: int) -> Callable[[], None]:
        def send_all() -> None:
            for seq in range(count):
                client.send(bytes([tid, seq]) + bytes([65 + tid]) * size)

        return send_all

    _send_concurrently(client, threads, sender)
    client.close()
    reader.result(30000 * MS)
    assert len(received) == threads * count
    order: dict[int, list[int]] = {tid: [] for tid in range(threads)}
    for message in received:
        tid, seq = message[0], message[1]
        assert len(message) == size + 2
        assert message[2:] == bytes([65 + tid]) * size, "message content mixed up"
        order[tid].append(seq)
    assert all(order[tid] == list(range(count)) for tid in range(threads))


def test_reader_not_blocked_by_large_send(make_raw: Any) -> None:
    ws, raw = make_raw(max_message_size=None)
    big = os.urandom(32 * 2**20)
    sender = Background(ws.send, big)
    # Wait until the sender is writing (the first bytes arrived), which it
    # cannot finish while the raw peer reads nothing.
    readable, _, _ = select.select([raw.sock], [], [], 5000 * MS)
    assert readable
    raw.send_frame(PING, b"while sending")
    raw.send_frame(TEXT, b"after the ping")
    assert ws.receive(timeout=5000 * MS) == "after the ping"
    assert not sender.done(), "the large send should still be blocked"
    # Now read everything: the big message, then the Pong queued meanwhile.
    frame = raw.read_frame(30000 * MS)
    assert frame is not None and frame.opcode == BINARY and frame.payload == big
    sender.result()
    pong = raw.read_frame()
    assert pong is not None and (pong.opcode, pong.payload) == (PONG, b"while sending")


def _fill_send_buffer(sock: socket.socket) -> int:
    """Fill the kernel buffers of a socketpair with empty Pong frames.

    Each two-byte write to an AF_UNIX stream socket is all or nothing, so the
    stream stays a valid sequence of frames.
    """
    count = 0
    while True:
        try:
            sock.send(b"\x8a\x00", socket.MSG_DONTWAIT)
        except BlockingIOError:
            return count
        count += 1


def _in_function(task: Background, name: str) -> bool:
    frame = sys._current_frames().get(task._thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("method", ["send", "ping", "pong"])
def test_pong_queued_during_a_blocked_write_is_flushed(
    make_raw: Any, method: str
) -> None:
    # The reader queues a Pong while another thread is blocked writing; the
    # writer must write it when it is done, whatever it was writing.
    ws, raw = make_raw()
    app = Background(ws.receive)
    wait_for(lambda: ws._read_lock.locked())
    assert _fill_send_buffer(ws.sock) > 0
    writer = Background(getattr(ws, method), b"W")
    wait_for(lambda: _in_function(writer, "_write"))  # blocked in sendall
    raw.send_frame(PING, b"R")
    raw.send_frame(TEXT, b"marker")
    # Once "marker" is returned, the Pong was queued (and could not be written).
    assert app.result() == "marker"
    assert not writer.done()
    written = {"send": (BINARY, b"W"), "ping": (PING, b"W"), "pong": (PONG, b"W")}[
        method
    ]
    raw.read_until(lambda frame: (frame.opcode, frame.payload) == written)
    writer.result()
    try:
        raw.read_until(
            lambda frame: (frame.opcode, frame.payload) == (PONG, b"R"), 1000 * MS
        )
    except TimeoutError:
        pytest.fail(f"the Pong queued while {method}() was writing was never sent")


@pytest.mark.parametrize("side", ["server", "client"])
def test_close_while_another_thread_receives(make_pair: Any, side: str) -> None:
    long = {"close_timeout": 10.0}
    server, client = make_pair(server=long, client=long)
    closer, peer = (server, client) if side == "server" else (client, server)
    peer_task = Background(echo, peer)
    blocked = Background(closer.receive)
    wait_for(lambda: closer._read_lock.locked())  # it is inside receive()
    start = time.monotonic()
    closer.close(1000, "done")
    assert time.monotonic() - start < 2000 * MS  # not the 10 s close timeout
    assert blocked.result(2000 * MS) is None
    peer_task.result()
    assert closer.close_code == 1000
    assert peer.close_code == 1000 and peer.close_reason == "done"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_close_from_both_sides_at_once(make_pair: Any, transport: str) -> None:
    long = {"close_timeout": 10.0}
    server, client = make_pair(transport, server=long, client=long)
    barrier = threading.Barrier(2)

    def close(ws: WebSocket, reason: str) -> None:
        barrier.wait(5000 * MS)
        ws.close(1000, reason)

    start = time.monotonic()
    tasks = [Background(close, server, "server"), Background(close, client, "client")]
    for task in tasks:
        task.result(5000 * MS)
    assert time.monotonic() - start < 2000 * MS
    assert (server.close_code, server.close_reason) == (1000, "client")
    assert (client.close_code, client.close_reason) == (1000, "server")
    assert server.receive(timeout=0) is None
    assert client.receive(timeout=0) is None


def test_abort_while_another_thread_receives(make_pair: Any) -> None:
    server, client = make_pair()
    blocked = Background(server.receive)
    wait_for(lambda: server._read_lock.locked())
    server.abort()
    assert blocked.result(2000 * MS) is None
    assert server.close_code == 1006
    assert client.receive(timeout=5000 * MS) is None
    assert client.close_code == 1006


def test_concurrent_receivers_share_messages(make_pair: Any) -> None:
    server, client = make_pair()
    count = 2000
    results: list[list[int]] = [[] for _ in range(4)]

    def receive_all(index: int) -> None:
        while True:
            message = server.receive()
            if message is None:
                return
            results[index].append(int(message))

    tasks = [Background(receive_all, index) for index in range(4)]
    for i in range(count):
        client.send(str(i))
    client.close()
    for task in tasks:
        task.result(10000 * MS)
    everything = sorted(i for result in results for i in result)
    assert everything == list(range(count)), "a message was lost or duplicated"
    for result in results:
        assert result == sorted(result)


def test_close_with_silent_peer_gives_up_after_close_timeout(make_raw: Any) -> None:
    ws, raw = make_raw(close_timeout=200 * MS)
    start = time.monotonic()
    ws.close(1000, "anyone?")
    assert time.monotonic() - start < 200 * MS + 2000 * MS
    assert ws.closed
    # No Close frame came back: the closing handshake did not complete.
    assert ws.close_code == 1006
    frames = raw.read_eof()
    assert [(f.opcode, f.close_code, f.close_reason) for f in frames] == [
        (CLOSE, 1000, "anyone?")
    ]


def test_client_close_when_server_keeps_tcp_open(cleanup: list[Any]) -> None:
    server_sock, client_sock = socket.socketpair()
    cleanup.append(server_sock)
    ws = WebSocket(client_sock, Protocol(CLIENT), close_timeout=200 * MS)
    cleanup.append(ws)
    raw = RawPeer(server_sock, mask=False)  # a server that answers, then lingers
    answer = Background(
        lambda: raw.send_frame(CLOSE, raw.read_frame().payload[:2])  # type: ignore[union-attr]
    )
    start = time.monotonic()
    ws.close(1000)
    answer.result()
    assert time.monotonic() - start < 200 * MS + 2000 * MS
    assert ws.close_code == 1000
    assert client_sock.fileno() == -1


def test_keepalive_task_ends_with_the_connection(make_pair: Any) -> None:
    before = {t for t in threading.enumerate() if t.name == "wsocket-keepalive"}
    server, client = make_pair(server={"ping_interval": 20 * MS})

    def mine() -> set[threading.Thread]:
        running = {t for t in threading.enumerate() if t.name == "wsocket-keepalive"}
        return running - before

    assert len(mine()) == 1
    task = Background(client.receive)
    server.close()
    assert task.result() is None
    assert wait_for(lambda: not mine(), 2000 * MS)


def test_bytes_read_past_the_handshake_are_not_lost(cleanup: list[Any]) -> None:
    server_sock, client_sock = socket.socketpair()
    bird = encode_frame(BINARY, b"bird")
    early = encode_frame(TEXT, b"early") + bird[:3]
    ws = WebSocket(server_sock, Protocol(SERVER), extra=early)
    cleanup.extend([client_sock, ws])
    client_sock.sendall(bird[3:])
    assert ws.receive(timeout=5000 * MS) == "early"
    assert ws.receive(timeout=5000 * MS) == b"bird"


# -- Keepalive ----------------------------------------------------------------


class AnsweringPeer:
    """A raw client that answers pings, counts them and records messages."""

    def __init__(self, raw: RawPeer) -> None:
        self.raw = raw
        self.pings = 0
        self.messages: list[Any] = []
        self.close_frame: Any = None
        self.task = Background(self._run)

    def _run(self) -> None:
        while True:
            frame = self.raw.read_frame(30000 * MS)
            if frame is None:
                return
            if frame.opcode == PING:
                self.pings += 1
                self.raw.send_frame(PONG, frame.payload)
            elif frame.opcode == CLOSE:
                self.close_frame = frame
                self.raw.send_frame(CLOSE, frame.payload[:2])
            else:
                self.messages.append(frame.payload)


@pytest.mark.parametrize("app_reads", [True, False], ids=["app-receiving", "app-idle"])
def test_keepalive_with_answering_peer_stays_open(
    make_raw: Any, app_reads: bool
) -> None:
    ws, raw = make_raw(ping_interval=100 * MS, ping_timeout=2000 * MS)
    peer = AnsweringPeer(raw)
    app = Background(ws.receive) if app_reads else None
    wait_for(lambda: peer.pings >= 5, 5000 * MS)
    assert not ws.closed
    assert ws.close_code is None
    raw.send_frame(TEXT, b"still here")
    if app is not None:
        assert app.result() == "still here"
    else:
        assert ws.receive(timeout=5000 * MS) == "still here"
    ws.close()
    peer.task.result()
    assert peer.close_frame.close_code == 1000


@pytest.mark.parametrize("app_reads", [True, False], ids=["app-receiving", "app-idle"])
def test_keepalive_fails_silent_peer_with_1011(make_raw: Any, app_reads: bool) -> None:
    interval = timeout = 100 * MS
    start = time.monotonic()
    ws, raw = make_raw(ping_interval=interval, ping_timeout=timeout)
    app = Background(ws.receive) if app_reads else None
    wait_for(lambda: ws.closed, interval + timeout + 3000 * MS)
    elapsed = time.monotonic() - start
    assert elapsed < interval + timeout + 3000 * MS
    assert ws.close_code == 1011
    if app is not None:
        assert app.result() is None
    # The silent peer got a Ping, then a Close with 1011, then EOF.
    frames = raw.read_eof()
    opcodes = [frame.opcode for frame in frames]
    assert opcodes[0] == PING
    assert opcodes[-1] == CLOSE
    assert frames[-1].close_code == 1011
    with pytest.raises(ConnectionClosedError) as excinfo:
        ws.send("late")
    assert excinfo.value.code == 1011


def test_keepalive_keeps_messages_for_idle_app(make_raw: Any) -> None:
    ws, raw = make_raw(ping_interval=100 * MS, ping_timeout=1000 * MS)
    raw.sock.sendall(
        encode_frame(TEXT, b"one")
        + encode_frame(BINARY, b"two")
        + encode_frame(TEXT, b"three")
    )
    peer = AnsweringPeer(raw)
    # Several intervals pass with nobody calling receive(): keepalive reads
    # the pongs (else it would fail the connection) and keeps the messages.
    wait_for(lambda: peer.pings >= 4, 5000 * MS)
    assert not ws.closed
    assert ws.receive(timeout=5000 * MS) == "one"
    assert ws.receive(timeout=5000 * MS) == b"two"
    assert ws.receive(timeout=5000 * MS) == "three"
    with pytest.raises(TimeoutError):
        ws.receive(timeout=0)
    ws.close()
    peer.task.result()


def test_keepalive_with_many_unread_messages_and_answering_peer(make_raw: Any) -> None:
    # The application has not read for a while and more messages are queued
    # than the keepalive task keeps. The peer answers every ping: that is no
    # reason to fail the connection with 1011.
    ws, raw = make_raw(ping_interval=100 * MS, ping_timeout=300 * MS)
    raw.sock.sendall(b"".join(encode_frame(TEXT, b"m%d" % i) for i in range(100)))
    peer = AnsweringPeer(raw)
    wait_for(lambda: peer.pings >= 5 or ws.closed, 5000 * MS)
    assert not ws.closed, f"connection failed with {ws.close_code} {ws.close_reason!r}"
    received = [ws.receive(timeout=5000 * MS) for _ in range(100)]
    assert received == [f"m{i}" for i in range(100)]
    ws.close()
    peer.task.result()


def test_keepalive_between_two_websockets(make_pair: Any) -> None:
    keepalive = {"ping_interval": 50 * MS, "ping_timeout": 2000 * MS}
    server, client = make_pair(server=keepalive, client=keepalive)
    # Neither application reads; each keepalive task answers the other's pings.
    last = server._last_rx
    wait_for(lambda: server._last_rx > last + 200 * MS, 5000 * MS)
    assert not server.closed and not client.closed
    client.send("hi")
    assert server.receive(timeout=5000 * MS) == "hi"
    task = Background(client.receive)
    server.close()
    assert task.result() is None


@pytest.mark.parametrize(
    "kwargs", [{"ping_interval": 0}, {"ping_timeout": -1}, {"close_timeout": -1}]
)
def test_invalid_timeouts(kwargs: dict[str, float]) -> None:
    a, b = socket.socketpair()
    with a, b, pytest.raises(ValueError):
        WebSocket(a, Protocol(SERVER), **kwargs)


# -- Memory held by an idle connection ------------------------------------------


def test_application_attributes(make_pair: Any) -> None:
    server, client = make_pair()
    server.user = "alice"
    server.rooms = {"lobby"}
    assert (server.user, server.rooms) == ("alice", {"lobby"})
    assert server.__dict__ == {"user": "alice", "rooms": {"lobby"}}
    # The other connection is not affected, and WebSockets stay weakly
    # referenceable.
    assert not hasattr(client, "user")
    assert weakref.ref(server)() is server


def test_idle_connection_keeps_no_buffers(make_raw: Any) -> None:
    ws, raw = make_raw()
    # Three messages in one read come out in order...
    raw.sock.sendall(
        b"".join(encode_frame(TEXT, f"m{i}".encode(), mask=True) for i in range(3))
    )
    assert [ws.receive(timeout=5000 * MS) for _ in range(3)] == ["m0", "m1", "m2"]
    # ...and leave nothing allocated behind them.
    assert ws._messages == [] and type(ws._messages) is not deque
    assert len(ws.protocol._buf) == 0
    assert not hasattr(ws.protocol, "__dict__")
    assert not ws.protocol.has_data_to_send()


# -- File descriptors ---------------------------------------------------------


def _end_by(how: str, ws: WebSocket, peer: WebSocket) -> None:
    if how == "close":
        task = Background(peer.receive)
        ws.close()
        assert task.result() is None
    elif how == "abort":
        ws.abort()
    elif how == "fail":
        ws.fail(1008, "policy")
    elif how == "peer-drop":
        peer.abort()
        assert ws.receive(timeout=5000 * MS) is None
    elif how == "peer-close":
        task = Background(peer.close)
        assert ws.receive(timeout=5000 * MS) is None
        task.result()
    else:  # pragma: no cover
        raise ValueError(how)


@pytest.mark.parametrize("how", ["close", "abort", "fail", "peer-drop", "peer-close"])
@pytest.mark.parametrize("side", [SERVER, CLIENT], ids=["server", "client"])
@pytest.mark.parametrize(
    "close_socket", [True, False], ids=["close-socket", "keep-socket"]
)
def test_socket_released_when_connection_ends(
    cleanup: list[Any], how: str, side: Any, close_socket: bool
) -> None:
    ours, theirs = socket.socketpair()
    other = CLIENT if side is SERVER else SERVER
    ws = WebSocket(ours, Protocol(side), close_socket=close_socket)
    peer = WebSocket(theirs, Protocol(other))
    cleanup.extend([peer, ws])
    fd = ours.fileno()
    _end_by(how, ws, peer)
    assert ws.closed
    if close_socket:
        wait_for(lambda: ours.fileno() == -1)
    else:
        # The connection is over but the socket is the caller's to close.
        wait_for(lambda: ws.protocol.eof_rcvd or ws.protocol.eof_sent)
        assert ours.fileno() == fd
        assert fd_is_open(fd)
        ours.close()


def test_no_fd_left_after_many_connections() -> None:
    tracker = FdTracker()
    for _ in range(20):
        server, client = ws_pair("tcp")
        task = Background(echo, server)
        client.send("x")
        assert client.receive(timeout=5000 * MS) == "x"
        client.close()
        task.result()
    tracker.check()


# -- gevent -------------------------------------------------------------------

GEVENT_SCRIPT = textwrap.dedent(
    """
    import sys

    MODE = sys.argv[1]
    if MODE == "patched":
        from gevent import monkey

        monkey.patch_all()

    import os
    import time

    import gevent
    import gevent.monkey
    import gevent.server
    import gevent.socket

    import wsocket
    from helpers import RawPeer, ServerOptions, accept_websocket
    from wsocket.concurrency import primitives_for
    from wsocket.connection import WebSocket
    from wsocket.protocol import CLIENT, SERVER, Protocol

    PATCHED = MODE == "patched"


    def socketpair():
        if PATCHED:
            import socket

            return socket.socketpair()
        return gevent.socket.socketpair()


    def pair(server=None, client=None):
        a, b = socketpair()
        return (
            WebSocket(a, Protocol(SERVER, max_message_size=None), **(server or {})),
            WebSocket(b, Protocol(CLIENT, max_message_size=None), **(client or {})),
        )


    def poll(predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not met in time"
            gevent.sleep(0.002)


    def echo(ws):
        while True:
            message = ws.receive()
            if message is None:
                return
            ws.send(message)


    def check_primitives():
        server, client = pair()
        print("patched", gevent.monkey.is_module_patched("socket"))
        print("primitives", primitives_for(server.sock).name, server._prim.name)
        server.abort()
        client.abort()


    def check_echo():
        server, client = pair()
        task = gevent.spawn(echo, server)
        for message in ["text", b"binary", "", b"", "x" * 70000, os.urandom(2**20)]:
            client.send(message)
            assert client.receive(timeout=5) == message
        client.close()
        task.get(timeout=5)
        assert server.close_code == client.close_code == 1000
        print("echo ok")


    def check_concurrency():
        server, client = pair()
        received = []

        def reader():
            for message in server:
                received.append(message)

        task = gevent.spawn(reader)

        def small(gid):
            for seq in range(300):
                client.send(f"{gid}:{seq}:" + "s" * (seq * 13 % 400))

        def large(gid):
            for seq in range(4):
                # Large enough that sendall yields to other greenlets midway.
                client.send(f"{gid}:{seq}:" + chr(65 + gid) * 300000)

        senders = [gevent.spawn(small, gid) for gid in range(8)]
        senders += [gevent.spawn(large, gid) for gid in range(8, 12)]
        gevent.joinall(senders, timeout=60, raise_error=True)
        assert all(sender.dead for sender in senders)
        client.close()
        task.get(timeout=10)
        order = {}
        for message in received:
            gid, seq, filler = message.split(":", 2)
            gid, seq = int(gid), int(seq)
            if gid < 8:
                assert filler == "s" * (seq * 13 % 400)
            else:
                assert filler == chr(65 + gid) * 300000
            order.setdefault(gid, []).append(seq)
        assert sorted(order) == list(range(12)), sorted(order)
        for gid, seqs in order.items():
            assert seqs == list(range(300 if gid < 8 else 4)), (gid, seqs)
        print("concurrency ok", len(received))


    def check_keepalive():
        # A peer that answers: the connection stays open over many intervals.
        a, b = socketpair()
        ws = WebSocket(a, Protocol(SERVER), ping_interval=0.05, ping_timeout=2.0)
        raw = RawPeer(b)
        pings = []

        def answer():
            while True:
                frame = raw.read_frame(30)
                if frame is None:
                    return
                if frame.opcode == 0x9:
                    pings.append(frame.payload)
                    raw.send_frame(0xA, frame.payload)
                elif frame.opcode == 0x8:
                    raw.send_frame(0x8, frame.payload[:2])

        task = gevent.spawn(answer)
        poll(lambda: len(pings) >= 5, 5)
        assert not ws.closed
        ws.close()
        task.get(timeout=5)
        b.close()

        # A silent peer: 1011 after about ping_interval + ping_timeout.
        a, b = socketpair()
        start = time.monotonic()
        ws = WebSocket(a, Protocol(SERVER), ping_interval=0.1, ping_timeout=0.1)
        app = gevent.spawn(ws.receive)
        poll(lambda: ws.closed, 3.2)
        assert ws.close_code == 1011, ws.close_code
        assert app.get(timeout=5) is None
        b.close()
        print("keepalive ok", round(time.monotonic() - start, 2))


    def check_server():
        options = ServerOptions(max_message_size=None)

        def handle(sock, addr):
            ws = accept_websocket(sock, options)
            if ws is not None:
                assert ws._prim.name == "gevent"
                echo(ws)
                ws.close()

        server = gevent.server.StreamServer(("127.0.0.1", 0), handle)
        server.start()
        url = f"ws://127.0.0.1:{server.server_port}/"
        if PATCHED:
            clients = [wsocket.connect(url) for _ in range(4)]
        else:
            clients = [
                wsocket.connect(
                    url,
                    sock=gevent.socket.create_connection(
                        ("127.0.0.1", server.server_port)
                    ),
                )
                for _ in range(4)
            ]

        def chat(ws, n):
            for i in range(50):
                ws.send(f"{n}-{i}")
                assert ws.receive(timeout=5) == f"{n}-{i}"
            ws.close()

        gevent.joinall(
            [gevent.spawn(chat, ws, n) for n, ws in enumerate(clients)],
            timeout=20,
            raise_error=True,
        )
        assert all(ws.close_code == 1000 for ws in clients)
        server.stop(timeout=5)
        print("server ok")


    def check_receivers():
        # Greenlets receiving at once wait for each other's read lock.
        server, client = pair()
        results = {n: [] for n in range(3)}
        errors = []

        def receive_all(n):
            try:
                while True:
                    message = server.receive()
                    if message is None:
                        return
                    results[n].append(int(message))
            except Exception as exc:
                errors.append(repr(exc))

        tasks = [gevent.spawn(receive_all, n) for n in range(3)]
        gevent.sleep(0)
        for i in range(500):
            client.send(str(i))
        client.close()
        gevent.joinall(tasks, timeout=10)
        assert not errors, errors
        assert sorted(sum(results.values(), [])) == list(range(500))
        print("receivers ok")


    def check_keepalive_reader():
        # receive() called while the keepalive task reads in the app's place.
        a, b = socketpair()
        ws = WebSocket(a, Protocol(SERVER), ping_interval=0.05, ping_timeout=5)
        raw = RawPeer(b)

        calling = []

        def slow_peer():
            frame = raw.read_frame(10)
            assert frame.opcode == 0x9, frame
            poll(lambda: calling, 5)
            gevent.sleep(0.1)
            raw.send_frame(0xA, frame.payload)
            raw.send_frame(0x1, b"hello")

        def application():
            calling.append(True)
            return ws.receive()

        peer = gevent.spawn(slow_peer)
        poll(lambda: ws._read_lock.locked(), 5)  # the keepalive task is reading
        result = gevent.spawn(application).get(timeout=5)
        peer.get(timeout=5)
        ws.abort()
        b.close()
        assert result == "hello", result
        print("keepalive reader ok")


    def check_direct():
        # A plain gevent socket is read and written through the socket under
        # it; the answers are the same as through gevent's own methods.
        from helpers import encode_frame

        a, b = socketpair()
        ws = WebSocket(a, Protocol(SERVER), read_size=64)
        assert ws._raw is a._sock, (ws._raw, a._sock)
        if not PATCHED:
            import socket as std

            plain, other = std.socketpair()
            assert WebSocket(plain, Protocol(SERVER))._raw is None
            plain.close()
            other.close()
        raw = RawPeer(b)
        frame = encode_frame(0x1, b"split" * 40, mask=True)

        def trickle():
            # One frame in pieces, each after the reader drained the last.
            for i in range(0, len(frame), 50):
                gevent.sleep(0.01)
                b.sendall(frame[i : i + 50])

        feeder = gevent.spawn(trickle)
        assert ws.receive(timeout=5) == "split" * 40
        feeder.get(timeout=5)
        # Nothing to read: a timed receive times out, then still works.
        try:
            ws.receive(timeout=0.05)
        except TimeoutError:
            pass
        else:
            raise AssertionError("receive() did not time out")
        raw.send_frame(0x2, b"after")
        assert ws.receive(timeout=5) == b"after"
        # A frame larger than the socket buffer goes out whole.
        big = b"B" * (4 * 2**20)
        sender = gevent.spawn(ws.send, big)
        got = raw.read_frame(10)
        sender.get(timeout=10)
        assert got.opcode == 0x2 and got.payload == big
        # A gevent.Timeout around a waiting receive() ends it and leaves the
        # socket's read watcher free for the next one.
        try:
            with gevent.Timeout(0.05):
                ws.receive()
        except gevent.Timeout:
            pass
        else:
            raise AssertionError("gevent.Timeout did not interrupt receive()")
        assert a._read_event.callback is None
        raw.send_frame(0x1, b"after the timeout")
        assert ws.receive(timeout=5) == "after the timeout"
        # The peer leaves: receive() reports the end instead of waiting.
        b.close()
        assert ws.receive(timeout=5) is None
        assert ws.close_code == 1006, ws.close_code

        # abort() from another greenlet ends a receive() that waits.
        a, b = socketpair()
        ws = WebSocket(a, Protocol(SERVER))
        waiting = gevent.spawn(ws.receive)
        gevent.sleep(0.02)
        assert not waiting.ready()
        # The read watcher calls the waiting greenlet back itself, with no
        # gevent Waiter in between (less C stack kept while it waits).
        assert a._read_event.callback.__self__ is waiting
        ws.abort()
        waiting.join(5)
        assert waiting.ready(), "receive() still waits after abort()"
        b.close()

        # A socket with a timeout keeps gevent's own wait, and its timeout.
        a, b = socketpair()
        a.settimeout(0.05)
        ws = WebSocket(a, Protocol(SERVER))
        started = time.monotonic()
        with gevent.Timeout(5):
            assert ws.receive() is None  # the socket timed out: the end
        assert time.monotonic() - started < 2
        b.close()
        print("direct ok")


    CHECKS = {
        "primitives": check_primitives,
        "echo": check_echo,
        "concurrency": check_concurrency,
        "keepalive": check_keepalive,
        "server": check_server,
        "receivers": check_receivers,
        "keepalive-reader": check_keepalive_reader,
        "direct": check_direct,
    }

    with gevent.Timeout(90):
        for name in sys.argv[2:]:
            CHECKS[name]()
    print("done")
    """
)


def run_gevent_checks(tmp_path: Any, mode: str, *checks: str) -> Any:
    pytest.importorskip("gevent", reason="gevent is not installed")
    script = tmp_path / "gevent_checks.py"
    script.write_text(GEVENT_SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), mode, *checks],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )


@pytest.mark.integration  # gevent in a subprocess
@pytest.mark.parametrize("mode", ["patched", "unpatched"])
@pytest.mark.parametrize("check", ["receivers", "keepalive-reader"])
def test_gevent_receive_waits_for_the_read_lock(
    tmp_path: Any, mode: str, check: str
) -> None:
    # receive() without a timeout must wait while another greenlet (a second
    # receiver, or the keepalive task) holds the read lock.
    result = run_gevent_checks(tmp_path, mode, check)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{check.replace('-', ' ')} ok" in result.stdout.splitlines()


@pytest.mark.integration  # gevent in a subprocess
@pytest.mark.parametrize("mode", ["patched", "unpatched"])
def test_gevent_reads_and_writes_the_socket_under_it(tmp_path: Any, mode: str) -> None:
    result = run_gevent_checks(tmp_path, mode, "direct")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "direct ok" in result.stdout.splitlines()


@pytest.mark.parametrize("mode", ["patched", "unpatched"])
def test_gevent_subprocess(tmp_path: Any, mode: str) -> None:
    result = run_gevent_checks(
        tmp_path, mode, "primitives", "echo", "concurrency", "keepalive", "server"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert f"patched {mode == 'patched'}" in lines
    assert "primitives gevent gevent" in lines
    assert "echo ok" in lines
    assert "concurrency ok 2416" in lines
    assert any(line.startswith("keepalive ok") for line in lines)
    assert "server ok" in lines
    assert lines[-1] == "done"
    # The silent peer was failed within ping_interval + ping_timeout + slack.
    keepalive = next(line for line in lines if line.startswith("keepalive ok"))
    assert float(keepalive.split()[-1]) < 3.2


def test_gevent_hub_thread_server_without_patching() -> None:
    pytest.importorskip("gevent", reason="gevent is not installed")
    from websockets.sync.client import connect as websockets_connect

    with ServerThread(echo, use_gevent=True) as server:
        client = wsocket.connect(server.url)
        with client:
            client.send("over gevent")
            assert client.receive(timeout=5000 * MS) == "over gevent"
        with websockets_connect(server.url, proxy=None) as other:
            assert other.ping().wait(5000 * MS)
            other.send(b"\x00" * 100000)
            assert other.recv(timeout=5000 * MS) == b"\x00" * 100000
        server.wait_finished(2)
        assert [ws._prim.name for ws in server.websockets] == ["gevent", "gevent"]


# -- send_nowait ---------------------------------------------------------------


def test_send_nowait_sends_text_and_binary() -> None:
    server, client = ws_pair("tcp")
    assert server.send_nowait("hé") is True
    assert server.send_nowait(b"\x00\x01") is True
    assert server.send_nowait(bytearray(b"ab"), binary=False) is True
    assert client.receive(timeout=5000 * MS) == "hé"
    assert client.receive(timeout=5000 * MS) == b"\x00\x01"
    assert client.receive(timeout=5000 * MS) == "ab"
    with pytest.raises(TypeError, match="json.dumps"):
        server.send_nowait(42)  # type: ignore[arg-type]
    server.abort()
    client.abort()


def test_send_nowait_on_a_closed_connection_raises() -> None:
    server, client = ws_pair("socketpair")
    reader = Background(lambda: client.receive(timeout=5000 * MS))
    server.close()
    reader.result()
    with pytest.raises(wsocket.ConnectionClosed):
        server.send_nowait("late")
    client.close()


def test_send_nowait_never_waits_for_a_peer_that_does_not_read() -> None:
    server_sock, client_sock = socket_pair("tcp")
    client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    server = WebSocket(server_sock, Protocol(SERVER, max_message_size=None))
    client = WebSocket(client_sock, Protocol(CLIENT, max_message_size=None))
    payload = "z" * 65536
    accepted = []
    refused = 0
    started = time.monotonic()
    for i in range(200):
        before = time.monotonic()
        if server.send_nowait(f"{i:04d}{payload}"):
            accepted.append(i)
        else:
            refused += 1
        assert time.monotonic() - before < 500 * MS
    assert time.monotonic() - started < 5000 * MS
    # The peer's buffers hold far less than 200 x 64 KiB: some were refused,
    # none was lost or cut.
    assert refused > 0 and accepted
    for i in accepted:
        message = client.receive(timeout=5000 * MS)
        assert isinstance(message, str) and message[:4] == f"{i:04d}"
        assert message[4:] == payload
    # Once the peer has read, the socket takes messages again.
    assert wait_for(lambda: server.send_nowait("again"), 5000 * MS)
    assert client.receive(timeout=5000 * MS) == "again"
    server.abort()
    client.abort()


@pytest.mark.integration  # gevent in a subprocess
def test_send_nowait_with_gevent_sockets() -> None:
    pytest.importorskip("gevent", reason="gevent is not installed")
    code = textwrap.dedent(
        """
        import time
        import gevent, gevent.socket
        from wsocket.connection import WebSocket
        from wsocket.protocol import CLIENT, SERVER, Protocol

        a, b = gevent.socket.socketpair()
        server = WebSocket(a, Protocol(SERVER, max_message_size=None))
        client = WebSocket(b, Protocol(CLIENT, max_message_size=None))
        payload = "g" * 65536
        accepted, refused = [], 0
        started = time.monotonic()
        for i in range(100):
            if server.send_nowait(f"{i:03d}{payload}"):
                accepted.append(i)
            else:
                refused += 1
        print("elapsed", time.monotonic() - started)
        print("refused", refused > 0)
        got = [client.receive(timeout=5)[:3] for _ in accepted]
        print("ordered", got == [f"{i:03d}" for i in accepted])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert float(lines[0].split()[1]) < 2.0
    assert lines[1:] == ["refused True", "ordered True"]


def test_the_closed_event_is_made_by_the_first_wait_on_it() -> None:
    # An idle connection that nothing waits on does not pay for the event;
    # one made before the close is set by it, one made after is set already.
    for wait_before_close in (True, False):
        a, b = socket.socketpair()
        with b:
            ws = WebSocket(a, Protocol(SERVER))
            assert ws._closed_event is None
            before = ws._closed_waiter() if wait_before_close else None
            ws.abort()
            after = ws._closed_waiter()
            assert after.wait(0)
            assert before is None or before is after


def test_a_close_waiting_for_another_reader_wakes_at_the_close() -> None:
    # close() from a second thread while the first reads: the second waits on
    # the closed event, made lazily, and returns once the reader finishes.
    a, b = socket.socketpair()
    with b:
        ws = WebSocket(a, Protocol(SERVER), close_timeout=5.0)
        reader = threading.Thread(target=lambda: list(ws), daemon=True)
        reader.start()
        wait_for(lambda: ws._read_lock.locked(), 5000 * MS)
        closer = threading.Thread(target=ws.close, daemon=True)
        started = time.monotonic()
        closer.start()
        # The peer answers the Close and goes: the reader ends the session.
        b.settimeout(5000 * MS)
        assert b.recv(2)[:1] == b"\x88"
        b.sendall(b"\x88\x82abcd" + bytes(x ^ y for x, y in zip(b"\x03\xe8", b"ab")))
        b.shutdown(socket.SHUT_WR)
        closer.join(5000 * MS)
        reader.join(5000 * MS)
        assert not closer.is_alive() and not reader.is_alive()
        assert time.monotonic() - started < 4.0
        assert ws.close_code == 1000


# -- layering -------------------------------------------------------------------


def test_the_connection_uses_only_the_protocols_public_api() -> None:
    # The blocking layer drives the sans-I/O Protocol through its methods;
    # reading one of its private fields would tie the two together.
    import wsocket.connection

    source = Path(wsocket.connection.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    private = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        owner = node.value
        name = (
            owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        )
        if name == "protocol":
            private.append(f"line {node.lineno}: protocol.{node.attr}")
    assert private == [], private
