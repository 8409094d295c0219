"""Faults against real server subprocesses: wsocket's run() on threads and on
gevent, and gunicorn -k gevent.

- 500 clients that reset (SO_LINGER 0, then close) mid-handshake, mid-frame
  and mid-close: the server goes on serving, logs no error and gives back
  its descriptors;
- 300 slowloris connections: a normal client still gets its echo in under
  a second, and wsocket's server cuts them off at ``head_timeout``;
- 20 000 connect/echo/close cycles: descriptors and resident memory (read
  from /proc) come back near their baseline;
- a half-open connection (a peer that stopped reading and answering) is
  closed with 1011 by the keepalive, and its descriptor goes away.

Each server runs once per module with ``head_timeout=2`` (wsocket) and
keepalive pings every ``PING_INTERVAL`` seconds, answered within
``PING_TIMEOUT``. Longer variants are marked ``soak``.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List

import pytest
from test_closing import raw_connect, vm_kib

import wsocket

from .config_gunicorn import gunicorn_argv
from .harness import PYTHON, ROOT, ServerProcess, free_port, wait_for

pytestmark = pytest.mark.timeout(300)

SERVE = os.path.join(ROOT, "tests", "integration", "serve_wsocket.py")
APP = "tests.integration.fault_app:app"
HEAD_TIMEOUT = 2.0
PING_INTERVAL = 1.0
PING_TIMEOUT = 1.0
ENV = {
    "APP": APP,
    "HEAD_TIMEOUT": str(HEAD_TIMEOUT),
    "PING_INTERVAL": str(PING_INTERVAL),
    "PING_TIMEOUT": str(PING_TIMEOUT),
}
#: Sockets a server may hold above its baseline once the dust settled.
FD_SLACK = 2
#: Resident memory a server may keep after the cycles, over its baseline:
#: allocator arenas and gevent's greenlet pool are kept, not leaked.
RSS_SLACK_KIB = 10 * 1024

SERVERS = ["wsocket-threading", "wsocket-gevent", "gunicorn-gevent"]


def _argv(name: str, port: int) -> List[str]:
    if name == "gunicorn-gevent":
        return gunicorn_argv("-k", "gevent", app=APP)(port)
    return [PYTHON, SERVE, str(port), name.split("-")[1]]


@pytest.fixture(scope="module", params=SERVERS)
def server(request):
    if request.param != "wsocket-threading":
        pytest.importorskip("gevent")
    if request.param.startswith("gunicorn"):
        pytest.importorskip("gunicorn")
    port = free_port()
    with ServerProcess(_argv(request.param, port), port, env=ENV) as proc:
        proc.name = request.param
        assert echo_round_trip(proc) < 5.0  # warm up: imports, first greenlets
        yield proc


# -- Clients ------------------------------------------------------------------

KEY = base64.b64encode(b"fault-tests-key!").decode()


def request_head(port: int) -> bytes:
    return (
        f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii")


def masked(opcode: int, payload: bytes) -> bytes:
    """One client frame (payload under 126 bytes) masked with a zero key."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


TEXT = masked(0x1, b"ping-pong")
CLOSE = masked(0x8, struct.pack("!H", 1000))


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_until(sock: socket.socket, marker: bytes, buf: bytes = b"") -> bytes:
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"EOF before {marker!r}: {buf!r}")
        buf += chunk
    return buf


def read_exact(sock: socket.socket, n: int, buf: bytes) -> bytes:
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def upgrade(port: int) -> tuple:
    """Connect and upgrade; return the socket and the bytes after the 101."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(request_head(port))
    data = read_until(sock, b"\r\n\r\n")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock, rest


def cycle(port: int) -> None:
    """Connect, upgrade, echo one message, close cleanly; the server ends TCP."""
    sock, rest = upgrade(port)
    try:
        sock.sendall(TEXT)
        echo = read_exact(sock, 2 + 9, rest)
        assert echo[:11] == b"\x81\x09ping-pong", echo
        sock.sendall(CLOSE)
        close = read_exact(sock, 11 + 4, echo)
        assert close[11:15] == b"\x88\x02\x03\xe8", close
        while sock.recv(65536):  # the server closes the connection
            pass
    finally:
        sock.close()


def echo_round_trip(server: ServerProcess) -> float:
    """Seconds from connect to the echo of one message, with wsocket's client."""
    start = time.monotonic()
    with wsocket.connect(f"ws://127.0.0.1:{server.port}/echo", timeout=10) as ws:
        ws.send("still here")
        assert ws.receive(timeout=10) == "still here"
        elapsed = time.monotonic() - start
    assert ws.close_code == 1000
    return elapsed


def run_all(func: Callable[[int], None], count: int, workers: int) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(func, i) for i in range(count)]:
            future.result(timeout=120)


# -- Measurements -------------------------------------------------------------


def rss_kib(server: ServerProcess) -> int:
    return sum(vm_kib(pid, "VmRSS") for pid in server.pids())


def settled_sockets(server: ServerProcess, baseline: int, timeout: float) -> int:
    wait_for(lambda: server.sockets() <= baseline + FD_SLACK, timeout, 0.1)
    return server.sockets()


def assert_clean(server: ServerProcess, log_before: int) -> None:
    new = server.log()[log_before:]
    assert "Traceback" not in new and "ERROR" not in new, new[-4000:]


def report(server: ServerProcess, what: str, **figures: object) -> None:
    line = " ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[faults] {server.name} {what}: {line}")


# -- 1. Resets ----------------------------------------------------------------


def reset_mid_handshake(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = request_head(port)
    sock.sendall(head[: len(head) // 2])
    reset(sock)


def reset_mid_frame(port: int) -> None:
    sock, _ = upgrade(port)
    sock.sendall(TEXT[:7])
    reset(sock)


def reset_mid_close(port: int) -> None:
    sock, _ = upgrade(port)
    sock.sendall(CLOSE)
    reset(sock)


@pytest.mark.parametrize(
    "fault", [reset_mid_handshake, reset_mid_frame, reset_mid_close]
)
def test_500_resets(server, fault):
    baseline = server.sockets()
    log_before = len(server.log())
    start = time.monotonic()
    run_all(lambda _: fault(server.port), 500, 16)
    took = time.monotonic() - start
    assert echo_round_trip(server) < 5.0
    left = settled_sockets(server, baseline, 20)
    report(server, fault.__name__, seconds=f"{took:.1f}", sockets=f"{baseline}->{left}")
    assert left <= baseline + FD_SLACK, (left, baseline)
    assert_clean(server, log_before)


# -- 2. Slowloris -------------------------------------------------------------


def test_300_slowloris(server):
    baseline = server.sockets()
    log_before = len(server.log())
    head = request_head(server.port)
    slow: List[socket.socket] = []
    stop = threading.Event()
    try:
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(head[:10])
            sock.setblocking(False)
            slow.append(sock)

        def trickle() -> None:
            # Half of them send one more byte every 200 ms; half stay silent.
            sent = 10
            while not stop.wait(0.2) and sent < len(head) - 4:
                for sock in slow[::2]:
                    try:
                        sock.send(head[sent : sent + 1])
                    except OSError:
                        pass
                sent += 1

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        held = wait_for(lambda: server.sockets() >= baseline + 250, 10, 0.05)
        assert held, (server.sockets(), baseline)
        rtt = echo_round_trip(server)
        report(server, "slowloris", echo_seconds=f"{rtt:.3f}")
        assert rtt < 1.0
        # Every slow client is cut off, trickling or not: wsocket's server
        # at head_timeout (plus up to 2 s of lingering close, which reads
        # what the trickling ones still send) with a 408, gunicorn -k gevent
        # silently at its --keep-alive (2 s by default), which bounds the
        # wait for each request head.
        start = time.monotonic()
        left = settled_sockets(server, baseline, HEAD_TIMEOUT + 10)
        took = time.monotonic() - start
        report(server, "slowloris cut off", seconds=f"{took:.1f}", sockets=left)
        assert left <= baseline + FD_SLACK, (left, baseline)
        for sock in slow[1:40:2]:  # silent ones: nothing else to read
            sock.settimeout(5)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            if server.name.startswith("wsocket"):
                assert answer.startswith(b"HTTP/1.1 408 "), answer
            else:
                assert answer == b"", answer
        stop.set()
        trickler.join(5)
    finally:
        stop.set()
        for sock in slow:
            sock.close()
    left = settled_sockets(server, baseline, 20)
    assert left <= baseline + FD_SLACK, (left, baseline)
    assert_clean(server, log_before)


# -- 3. Many short sessions ---------------------------------------------------


def many_cycles(server: ServerProcess, count: int) -> None:
    # Warm up first: the first few hundred sessions grow caches and pools
    # that stay (the baseline is taken after them).
    before_warm_up = server.sockets()
    run_all(lambda _: cycle(server.port), 500, 4)
    baseline = settled_sockets(server, before_warm_up, 20)
    rss_before = rss_kib(server)
    log_before = len(server.log())
    start = time.monotonic()
    run_all(lambda _: cycle(server.port), count, 4)
    took = time.monotonic() - start
    left = settled_sockets(server, baseline, 20)
    rss_after = rss_kib(server)
    report(
        server,
        f"{count} cycles",
        seconds=f"{took:.1f}",
        sockets=f"{baseline}->{left}",
        rss_kib=f"{rss_before}->{rss_after}",
    )
    assert left <= baseline + FD_SLACK, (left, baseline)
    assert rss_after - rss_before < RSS_SLACK_KIB, (rss_before, rss_after)
    assert_clean(server, log_before)
    assert echo_round_trip(server) < 5.0


def test_20000_cycles(server):
    many_cycles(server, 20000)


@pytest.mark.soak
def test_100000_cycles(server):
    many_cycles(server, 100000)


# -- 4. Half-open connections -------------------------------------------------


def server_holds(server: ServerProcess, client_port: int) -> bool:
    """Tell whether the server still has a descriptor for the connection
    from ``client_port`` (matched by socket inode through /proc/net/tcp)."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.split(":")[1], 16) == server.port
                and int(remote.split(":")[1], 16) == client_port
                and inode != "0"
            ):
                inodes.add(f"socket:[{inode}]")
    for pid in server.pids():
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(f"/proc/{pid}/fd/{name}") in inodes:
                    return True
            except OSError:
                pass
    return False


def test_half_open_found_by_keepalive(server):
    peer = raw_connect(server.port, "/echo")
    client_port = peer.sock.getsockname()[1]
    try:
        peer.send_frame(0x1, b"hello")
        frame = peer.read_frame(10)
        assert frame is not None and frame.payload == b"hello"
        # From now on the peer neither reads nor answers: it is gone without
        # a FIN, as far as the server can tell.
        quiet_since = time.monotonic()
        assert server_holds(server, client_port)
        limit = PING_INTERVAL + PING_TIMEOUT + 3.0
        closed = wait_for(
            lambda: not server_holds(server, client_port), limit + 5, 0.05
        )
        took = time.monotonic() - quiet_since
        report(server, "half-open", closed_after=f"{took:.2f}")
        assert closed, "the server still holds the half-open connection"
        assert took < limit
        frames = peer.read_eof(5)
    finally:
        peer.sock.close()
    close = [f for f in frames if f.opcode == 0x8]
    assert close and close[0].payload[:2] == struct.pack("!H", 1011), frames
    assert all(f.opcode in (0x8, 0x9) for f in frames), frames
