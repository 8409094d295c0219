"""Memory held by idle WebSocket connections under ``examples/echo.py --server gevent``.

    python benchmarks/idle_memory.py                        # this tree
    python benchmarks/idle_memory.py --against OLDTREE      # side by side
    python benchmarks/idle_memory.py --trace                # + where it goes

For each round, each tree (this checkout, and ``OLDTREE`` if given, in turn)
and each kind of connection, a fresh ``examples/echo.py --server gevent`` of
that tree is started, warmed up with a few short connections, and its RSS
(``VmRSS`` in ``/proc/PID/status``) read. A client process then opens
``--conns`` connections, each echoing one 64-byte text message, and holds
them; once all are open and the server is quiet, RSS is read again. The
figure is the growth divided by the number of connections, in KiB; kernel
socket buffers are not in RSS, so it is the server's user-space cost.

Kinds of connection:

- ``plain``: no extension offered. With ``--loadgen PATH`` the benchmark
  kit's C load generator (``loadgen --mode idle``) opens them instead of the
  Python client below.
- ``deflate``: permessage-deflate offered and accepted with context
  takeover, so the one compressed echo leaves both zlib streams in place.
- ``deflate-nct``: permessage-deflate with ``server_no_context_takeover``
  and ``client_no_context_takeover``: no stream needs to outlive a message.

``--trace`` runs the server under :mod:`tracemalloc` (which makes RSS
meaningless, so those runs are separate) and prints, per connection, the
bytes still allocated after the connections opened, grouped by the line that
allocated them.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import zlib
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("plain", "deflate", "deflate-nct")
OFFERS = {
    "plain": None,
    "deflate": "permessage-deflate; client_max_window_bits",
    "deflate-nct": (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    ),
}
MESSAGE = (b"idle connection, one echo " * 3)[:64]


# -- the client: open N connections, echo once on each, hold them ----------------


def client_frame(payload: bytes, rsv1: bool) -> bytes:
    key = os.urandom(4)
    b0 = 0x81 | (0x40 if rsv1 else 0)
    assert len(payload) < 126
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((b0, 0x80 | len(payload))) + key + masked


def read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def open_one(port: int, offer: Optional[str]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    head = (
        f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
    )
    if offer:
        head += f"Sec-WebSocket-Extensions: {offer}\r\n"
    sock.sendall((head + "\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("no handshake response")
        response += chunk
    head_bytes, _, rest = response.partition(b"\r\n\r\n")
    if not head_bytes.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head_bytes[:80]!r}")
    negotiated = b"permessage-deflate" in head_bytes.lower()
    if bool(offer) != negotiated:
        raise ConnectionError(f"extension offered: {offer!r}, response: {head_bytes!r}")
    if negotiated:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = compressor.compress(MESSAGE) + compressor.flush(zlib.Z_SYNC_FLUSH)
        sock.sendall(client_frame(payload[:-4], True))
    else:
        sock.sendall(client_frame(MESSAGE, False))
    # The echo: one unmasked text frame.
    data = rest + read_exact(sock, max(0, 2 - len(rest)))
    length = data[1] & 0x7F
    body = data[2:] + read_exact(sock, max(0, length - len(data) + 2))
    if data[0] & 0x0F != 0x1 or bool(data[0] & 0x40) != negotiated:
        raise ConnectionError(f"unexpected echo header {data[:2].hex()}")
    if negotiated:
        inflated = zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff")
    else:
        inflated = body
    if inflated != MESSAGE:
        raise ConnectionError("the echo differs from the message")
    return sock


def run_client(port: int, conns: int, kind: str) -> None:
    socks = [open_one(port, OFFERS[kind]) for _ in range(conns)]
    print(json.dumps({"event": "ready", "ready": len(socks)}), flush=True)
    sys.stdin.read()  # hold until the driver closes our stdin
    for sock in socks:
        sock.close()


# -- the server: examples/echo.py of a tree, optionally under tracemalloc --------


def run_server(tree: str, port: int, trace_out: Optional[str]) -> None:
    sys.path.insert(0, tree)
    sys.argv = ["echo.py", "--server", "gevent", "--port", str(port)]
    if trace_out:
        import tracemalloc

        import gevent

        tracemalloc.start(1)
        snapshots: List[Any] = []

        def on_signal() -> None:
            snapshots.append(tracemalloc.take_snapshot())
            if len(snapshots) == 2:
                before, after = snapshots
                stats = after.compare_to(before, "lineno")
                rows = [
                    (str(stat.traceback[0]), stat.size_diff, stat.count_diff)
                    for stat in stats[:40]
                ]
                total = sum(stat.size_diff for stat in stats)
                with open(trace_out, "w") as file:
                    json.dump({"total": total, "rows": rows}, file)
            else:
                with open(trace_out + ".0", "w") as file:
                    file.write("ok")

        gevent.signal_handler(signal.SIGUSR1, on_signal)
    import runpy

    runpy.run_path(os.path.join(tree, "examples", "echo.py"), run_name="__main__")


# -- the driver ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def settled_rss(pid: int) -> float:
    """RSS once it stops moving (bounded), median of three readings."""
    last = rss_kib(pid)
    for _ in range(20):
        time.sleep(0.25)
        now = rss_kib(pid)
        if abs(now - last) < 16:
            break
        last = now
    samples = []
    for _ in range(3):
        samples.append(rss_kib(pid))
        time.sleep(0.1)
    return float(statistics.median(samples))


def start_client(
    port: int, conns: int, kind: str, loadgen: Optional[str]
) -> Tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    if loadgen and kind == "plain":
        cmd = [loadgen, "--port", str(port), "--path", "/echo", "--mode", "idle"]
        cmd += ["--total", str(conns), "--hold", "120", "--quiet"]
        stdin = subprocess.DEVNULL
    else:
        cmd = [sys.executable, __file__, "--client", "--port", str(port)]
        cmd += ["--conns", str(conns), "--kind", kind]
        stdin = subprocess.PIPE
    proc = subprocess.Popen(
        cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if '"event":"ready"' in line.replace(" ", ""):
            return proc, int(json.loads(line)["ready"])
    stop_client(proc)
    raise RuntimeError(f"the client did not get ready: {proc.stderr.read()[-500:]}")  # type: ignore[union-attr]


def stop_client(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    if proc.stdin:
        proc.stdin.close()
    else:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def measure(
    tree: str, kind: str, conns: int, loadgen: Optional[str], trace: bool
) -> Dict[str, Any]:
    port = free_port()
    trace_out = f"/tmp/idle-memory-{os.getpid()}-{port}.json" if trace else None
    cmd = [sys.executable, __file__, "--serve", tree, "--port", str(port)]
    if trace_out:
        cmd += ["--trace-out", trace_out]
    server = subprocess.Popen(
        cmd, cwd="/tmp", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: can_connect(port), 20, "the server")
        warm, _ = start_client(port, 20, kind, None)
        stop_client(warm)
        before = settled_rss(server.pid)
        if trace_out:
            server.send_signal(signal.SIGUSR1)
            wait_for(lambda: os.path.exists(trace_out + ".0"), 30, "the first snapshot")
        client, ready = start_client(port, conns, kind, loadgen)
        try:
            held = settled_rss(server.pid)
            result: Dict[str, Any] = {
                "kib_per_conn": (held - before) / ready,
                "ready": ready,
                "rss_before": before,
                "rss_held": held,
            }
            if trace_out:
                server.send_signal(signal.SIGUSR1)
                wait_for(lambda: os.path.exists(trace_out), 60, "the second snapshot")
                time.sleep(0.2)
                with open(trace_out) as file:
                    result["trace"] = json.load(file)
        finally:
            stop_client(client)
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        for path in (trace_out, f"{trace_out}.0"):
            if trace_out and path and os.path.exists(path):
                os.unlink(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", help="another checkout to compare with")
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--loadgen", help="the kit's loadgen binary for 'plain'")
    parser.add_argument("--trace", action="store_true", help="tracemalloc runs")
    parser.add_argument("--top", type=int, default=12)
    # Internal roles.
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="plain", help=argparse.SUPPRESS)
    parser.add_argument("--trace-out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.client:
        run_client(args.port, args.conns, args.kind)
        return
    if args.serve:
        run_server(args.serve, args.port, args.trace_out)
        return

    trees = {"this": HERE}
    if args.against:
        trees["other"] = os.path.abspath(args.against)
    kinds = args.kinds.split(",")
    results: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for round_no in range(args.rounds):
        for kind in kinds:
            for name, tree in trees.items():
                result = measure(tree, kind, args.conns, args.loadgen, args.trace)
                results.setdefault((kind, name), []).append(result)
                print(
                    f"# round {round_no + 1} {kind:12} {name:6} "
                    f"{result['kib_per_conn']:7.2f} KiB/conn "
                    f"(RSS {result['rss_before']:.0f} -> {result['rss_held']:.0f} KiB,"
                    f" {result['ready']} connections)",
                    flush=True,
                )
    names = list(trees)
    what = "tracemalloc run, RSS inflated" if args.trace else "RSS"
    print(f"\n| connections ({args.conns}) | " + " | ".join(names) + f" | ({what})")
    print("|---|" + "---:|" * len(names))
    for kind in kinds:
        cells = [
            statistics.median(r["kib_per_conn"] for r in results[(kind, n)])
            for n in names
        ]
        print(f"| {kind} | " + " | ".join(f"{c:.2f} KiB" for c in cells) + " |")
    if args.trace:
        for (kind, name), runs in results.items():
            trace = runs[-1]["trace"]
            ready = runs[-1]["ready"]
            print(f"\n## {kind}, {name}: {trace['total'] / ready:.0f} B/conn traced")
            for where, size, count in trace["rows"][: args.top]:
                print(f"{size / ready:8.0f} B {count / ready:6.2f} blocks  {where}")


if __name__ == "__main__":
    main()
