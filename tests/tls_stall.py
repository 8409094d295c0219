"""``receive(timeout=)`` on TLS while a peer stalls in the middle of a record.

One scenario, run by ``test_closing.py`` in-process (threads) and, for
gevent, as a script in a monkey-patched interpreter::

    python tls_stall.py CERTFILE KEYFILE CASE      # prints the result as JSON

The peer is a TLS server that encrypts into memory, so that it decides how
much of a record reaches the wire. It sends the first third of a record
holding a text frame (in the ``tickets`` case: nothing yet), and the
client's ``receive(timeout=...)`` must raise ``TimeoutError`` on time.
Then, depending on ``CASE``:

- ``idle``: nothing else happens;
- ``sending``: another thread (greenlet) of the client sends continuously,
  and the peer reads and drops it all;
- ``stuck``: another thread sends to a peer that does not read, so that it
  blocks in the middle of a write, holding the connection's write side;
- ``tickets``: as ``stuck``, and the TLS 1.3 session tickets the server
  held back since the handshake arrive now, two whole records that carry
  no application data, followed by the first third of the record.

The next third of the record follows, and ``receive(timeout=...)`` must
again raise ``TimeoutError`` on time. A rescue thread sends the rest of the
record after ``RESCUE`` seconds in any case, so that a receive that blocks
past its timeout ends (and the test reports how long it took). The last
third then completes the message, which must be received.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from gevent import monkey

    monkey.patch_all()

import json  # noqa: E402
import ssl  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any, Dict, List  # noqa: E402

from helpers import encode_frame, tcp_pair  # noqa: E402

from wsocket.connection import WebSocket  # noqa: E402
from wsocket.exceptions import ConnectionClosed  # noqa: E402
from wsocket.protocol import CLIENT, Protocol  # noqa: E402

CASES = ("idle", "sending", "stuck", "tickets")
MESSAGE = "hello over TLS " * 500
#: Seconds after which the rest of the record is sent whatever happened.
RESCUE = 4.0


def _timed_receive(ws: WebSocket, timeout: float) -> Dict[str, Any]:
    started = time.monotonic()
    try:
        message = ws.receive(timeout=timeout)
    except TimeoutError:
        outcome = "timeout"
    else:
        outcome = "message" if message == MESSAGE else repr(message)[:40]
    return {"outcome": outcome, "elapsed": time.monotonic() - started}


def run(case: str, certfile: str, keyfile: str, timeout: float = 0.5) -> Dict[str, Any]:
    """Play ``case``; return what the two timed receives and the last one saw."""
    assert case in CASES, case
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certfile, keyfile)
    server_ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    server_ctx.num_tickets = 2 if case == "tickets" else 0
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    raw_server, raw_client = tcp_pair()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = server_ctx.wrap_bio(incoming, outgoing, server_side=True)
    held_back: List[bytes] = []

    def serve_handshake() -> None:
        raw_server.settimeout(10)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                out = outgoing.read()
                if out:
                    raw_server.sendall(out)
                data = raw_server.recv(65536)
                if not data:
                    return
                incoming.write(data)
        # What the server writes once the handshake is done: the session
        # tickets when there are any. Sent when the case says.
        held_back.append(outgoing.read())

    handshake = threading.Thread(target=serve_handshake, daemon=True)
    handshake.start()
    client_sock = client_ctx.wrap_socket(raw_client, server_hostname="localhost")
    handshake.join(10)
    assert held_back, "the TLS handshake did not finish"
    tickets = held_back[0]
    assert bool(tickets) is (case == "tickets"), len(tickets)
    ws = WebSocket(client_sock, Protocol(CLIENT))

    stop = threading.Event()
    sent = [0]
    threads: List[threading.Thread] = []

    def write() -> None:
        chunk = b"x" * 65536
        try:
            while not stop.is_set():
                ws.send(chunk)
                sent[0] += len(chunk)
        except (ConnectionClosed, OSError):
            pass

    def drain() -> None:
        try:
            while not stop.is_set():
                if not raw_server.recv(65536):
                    return
        except OSError:
            pass

    tls.write(encode_frame(0x1, MESSAGE.encode(), mask=False))
    record = outgoing.read()
    third = len(record) // 3
    # What reaches the wire before each timed receive, and after them. The
    # tickets were written before the record, so they come before it.
    parts = [record[:third], record[third : 2 * third], record[2 * third :]]
    if tickets:
        parts = [b"", tickets + record[:third], record[third:]]
    rest_sent = threading.Event()
    rest_lock = threading.Lock()

    def send_rest() -> None:
        with rest_lock:
            if not rest_sent.is_set():
                rest_sent.set()
                raw_server.sendall(parts[2])

    second_done = threading.Event()

    def rescue() -> None:
        if not second_done.wait(RESCUE):
            send_rest()

    result: Dict[str, Any] = {"case": case}
    try:
        if parts[0]:
            raw_server.sendall(parts[0])
        result["first"] = _timed_receive(ws, timeout)
        if case != "idle":
            if case == "sending":
                threads.append(threading.Thread(target=drain, daemon=True))
            threads.append(threading.Thread(target=write, daemon=True))
            for thread in threads:
                thread.start()
            # Wait until the writer is under way (or, to a peer that does
            # not read, stuck: its sent count stops growing).
            deadline = time.monotonic() + 10
            last = -1
            while time.monotonic() < deadline:
                if case == "sending" and sent[0] >= 4 * 65536:
                    break
                if case != "sending" and sent[0] and sent[0] == last:
                    break
                last = sent[0]
                stop.wait(0.2)
            result["sent_before"] = sent[0]
        raw_server.sendall(parts[1])
        rescuer = threading.Thread(target=rescue, daemon=True)
        rescuer.start()
        threads.append(rescuer)
        result["second"] = _timed_receive(ws, timeout)
        second_done.set()
        send_rest()
        if result["second"]["outcome"] == "timeout":
            result["last"] = _timed_receive(ws, 10.0)
        result["sent_after"] = sent[0]
    finally:
        second_done.set()
        stop.set()
        ws.abort()
        raw_server.close()
        for thread in threads:
            thread.join(5)
    return result


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[3], sys.argv[1], sys.argv[2])))
