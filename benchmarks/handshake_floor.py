"""What a WebSocket's whole life costs, next to the least a gevent server pays.

    python benchmarks/handshake_floor.py --loadgen PATH/TO/loadgen
    python benchmarks/handshake_floor.py --loadgen PATH --peer-python VENV/bin/python \\
        --kit ../shared/bench --rounds 3
    python benchmarks/handshake_floor.py --loadgen PATH --against OTHER_CHECKOUT

The benchmark kit's ``connect`` step (``loadgen --mode connect``, 50 in
flight) counts complete lives: TCP connect, upgrade, one 64-byte echo, the
closing handshake. This script runs that step, round after round, against:

- ``floor``: the smallest gevent program that passes it (``serve`` mode of
  this file: an accept loop, one greenlet per connection, the head read up to
  its blank line, a canned 101 with the computed accept key, frames echoed
  with no validation, the Close answered, the socket closed). No server can do
  less on gevent; it is not a WebSocket server anyone should run.
- ``wsocket/gevent``: ``examples/echo.py --server gevent``.
- ``aiohttp``: the kit's aiohttp peer, with ``--peer-python`` and ``--kit``.
- ``wsocket/against``: ``examples/echo.py`` of another checkout, with
  ``--against`` (its package first on ``PYTHONPATH``).

For each it reports handshakes per second and the server's CPU time per
handshake (user and system, from ``/proc/PID/stat``), medians over rounds.
The gap between ``floor`` and ``wsocket/gevent`` is what wsocket's Python
costs per connection; the system time is mostly the kernel's TCP work, the
same for every server.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TICK = os.sysconf("SC_CLK_TCK")


# -- the floor server -----------------------------------------------------------


def _frames(buf: bytearray) -> List[Tuple[int, bytes]]:
    """Take the whole (masked, client) frames at the start of ``buf``."""
    out = []
    while len(buf) >= 2:
        length = buf[1] & 0x7F
        offset = 2
        if length == 126:
            if len(buf) < 4:
                break
            length = int.from_bytes(buf[2:4], "big")
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                break
            length = int.from_bytes(buf[2:10], "big")
            offset = 10
        if len(buf) < offset + 4 + length:
            break
        key = bytes(buf[offset : offset + 4])
        start = offset + 4
        masked = int.from_bytes(buf[start : start + length], "big")
        mask = int.from_bytes((key * (length // 4 + 1))[:length], "big")
        payload = (masked ^ mask).to_bytes(length, "big")
        out.append((buf[0] & 0x0F, payload))
        del buf[: start + length]
    return out


def _header(opcode: int, length: int) -> bytes:
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 65536:
        return bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
    return bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")


def serve_floor(port: int) -> None:
    import gevent
    from gevent import socket as gsocket

    listener = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)

    def handle(sock: socket.socket) -> None:
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(65536)
                if not data:
                    return
                head += data
            head, _, rest = head.partition(b"\r\n\r\n")
            key = b""
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            buf = bytearray(rest)
            while True:
                for opcode, payload in _frames(buf):
                    if opcode == 0x8:
                        sock.sendall(_header(0x8, len(payload)) + payload)
                        return
                    if opcode in (0x1, 0x2):
                        sock.sendall(_header(opcode, len(payload)) + payload)
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
        except OSError:
            pass
        finally:
            sock.close()

    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        gevent.spawn(handle, sock)


# -- the driver -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout} s")


def _cpu(pid: int) -> Tuple[float, float]:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def measure(
    command: List[str],
    loadgen: str,
    port: int,
    args: argparse.Namespace,
    tree: str = ROOT,
) -> Dict[str, float]:
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tree,
        env=dict(os.environ, PYTHONPATH=tree),
    )
    try:
        _wait_listening(port, proc, 15)
        base = [loadgen, "--port", str(port), "--mode", "connect", "--inflight", "50"]
        subprocess.run(
            base + ["--warmup", "0", "--duration", str(args.warmup), "--quiet"],
            capture_output=True,
            timeout=args.warmup + 30,
        )
        user0, sys0 = _cpu(proc.pid)
        result = subprocess.run(
            base + ["--warmup", "0", "--duration", str(args.duration)],
            capture_output=True,
            text=True,
            timeout=args.duration + 30,
        )
        user1, sys1 = _cpu(proc.pid)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        if not report.get("ok"):
            raise RuntimeError(f"load generator: {report.get('first_error')}")
        count = report["handshakes"]
        return {
            "rate": report["handshakes_per_s"],
            "user": (user1 - user0) / count * 1e6,
            "sys": (sys1 - sys0) / count * 1e6,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the floor server on PORT")
    serve.add_argument("port", type=int)
    parser.add_argument("--loadgen", help="the benchmark kit's loadgen binary")
    parser.add_argument("--peer-python", help="a Python with aiohttp, for the peer")
    parser.add_argument("--kit", default=os.path.join(ROOT, "..", "shared", "bench"))
    parser.add_argument("--against", help="another checkout, run side by side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    if args.command == "serve":
        serve_floor(args.port)
        return
    if not args.loadgen:
        parser.error("--loadgen is required (the kit's bin/loadgen, built by make)")

    servers: Dict[str, str] = {
        "floor": f"{sys.executable} {os.path.abspath(__file__)} serve {{port}}",
        "wsocket/gevent": (
            f"{sys.executable} examples/echo.py --port {{port}} --server gevent --quiet"
        ),
    }
    peer: Optional[str] = args.peer_python
    if peer:
        script = os.path.join(args.kit, "peers", "aiohttp_echo.py")
        servers["aiohttp"] = f"{peer} {script} {{port}}"
    trees = {name: ROOT for name in servers}
    if args.against:
        servers["wsocket/against"] = servers["wsocket/gevent"]
        trees["wsocket/against"] = os.path.abspath(args.against)
    results: Dict[str, List[Dict[str, float]]] = {name: [] for name in servers}
    for round_number in range(1, args.rounds + 1):
        for name, template in servers.items():
            port = _free_port()
            command = shlex.split(template.format(port=port))
            figures = measure(command, args.loadgen, port, args, trees[name])
            results[name].append(figures)
            print(
                f"round {round_number} {name:15} {figures['rate']:8.0f}/s "
                f"user {figures['user']:6.1f} µs  sys {figures['sys']:6.1f} µs",
                flush=True,
            )
    print()
    print(f"{'server':15} {'handshakes/s':>12} {'user µs':>9} {'sys µs':>8}  (medians)")
    for name, rows in results.items():
        rate = statistics.median(row["rate"] for row in rows)
        user = statistics.median(row["user"] for row in rows)
        system = statistics.median(row["sys"] for row in rows)
        print(f"{name:15} {rate:12.0f} {user:9.1f} {system:8.1f}")


if __name__ == "__main__":
    main()
