"""What one WebSocket handshake costs in wsocket's own server, step by step.

    python benchmarks/handshake_steps.py            # 20 000 handshakes a step
    python benchmarks/handshake_steps.py -n 5000

From the request head read off the socket to the WebSocket handed to the
app, the server runs these steps; each is timed alone, in this process, as
CPU time per handshake (median of 5 rounds), with a browser-like request
(Origin, User-Agent, permessage-deflate offer, cookies):

- ``parse head``: the HTTP/1.1 parser turns the bytes into a request head;
- ``environ``: the server builds the WSGI environ from it;
- ``checks``: the middleware finds the server adapter and validates the
  upgrade (RFC 6455 4.2.1, origin policy, deflate negotiation);
- ``101 bytes``: the response head is serialised;
- ``session``: the Protocol and WebSocket objects are made and registered
  (and unregistered, as when the session ends).

What the kernel does (accept, recv, one send of the 101) is not in these
figures; compare their sum with the handshakes per second the load
generator measures (``benchmarks/run.sh``: ``connect``) to see the share of
each.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wsocket import WebSocketMiddleware, make_server  # noqa: E402
from wsocket.connection import WebSocket  # noqa: E402
from wsocket.handshake import server_handshake  # noqa: E402
from wsocket.http11 import RequestReader  # noqa: E402
from wsocket.protocol import SERVER, Protocol  # noqa: E402
from wsocket.registry import register, unregister  # noqa: E402
from wsocket.server import _Connection  # noqa: E402
from wsocket.servers import find_adapter, response_101  # noqa: E402

HEAD = (
    b"GET /chat?room=lobby HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8080\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    b"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: http://127.0.0.1:8080\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=0123456789abcdef; theme=dark\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="handshakes per step")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.n

    def app(environ: Any, start_response: Any) -> List[bytes]:
        return []

    middleware = WebSocketMiddleware(app)
    server = make_server(middleware, "127.0.0.1", 0, server="threading")
    a, b = socket.socketpair()
    try:
        conn = _Connection(server, a, ("127.0.0.1", 50000))
        limits = server.limits
        request = RequestReader(limits).read(bytearray(HEAD))
        assert request is not None
        environ = conn._environ(request)
        handshake = server_handshake(environ)
        assert handshake.deflate is not None  # the offer was accepted

        def parse() -> None:
            for _ in range(n):
                RequestReader(limits).read(bytearray(HEAD))

        def build_environ() -> None:
            for _ in range(n):
                conn._environ(request)

        def checks() -> None:
            for _ in range(n):
                env: Dict[str, Any] = dict(environ)
                adapter = find_adapter(env)
                adapter.refusal_for(env)
                server_handshake(
                    env,
                    subprotocols=middleware.subprotocols,
                    compression=middleware.compression,
                    origins=middleware.origins,
                    check_origin=middleware.check_origin,
                    trusted_proxies=middleware.trusted_proxies,
                )

        headers = handshake.headers

        def serialise() -> None:
            for _ in range(n):
                response_101(headers)

        def session() -> None:
            for _ in range(n):
                protocol = Protocol(SERVER, deflate=handshake.deflate)
                ws = WebSocket(a, protocol, environ=environ, close_socket=False)
                register(ws)
                unregister(ws)

        steps: List[Tuple[str, Callable[[], None]]] = [
            ("parse head", parse),
            ("environ", build_environ),
            ("checks", checks),
            ("101 bytes", serialise),
            ("session", session),
        ]
        times: Dict[str, List[float]] = {name: [] for name, _ in steps}
        for _ in range(args.rounds):
            for name, step in steps:
                start = time.process_time()
                step()
                times[name].append((time.process_time() - start) / n * 1e6)
    finally:
        a.close()
        b.close()
        server.socket.close()

    total = 0.0
    print(f"{'step':<12} {'µs per handshake':>18}")
    for name, _ in steps:
        value = statistics.median(times[name])
        total += value
        print(f"{name:<12} {value:>18.1f}")
    print(f"{'total':<12} {total:>18.1f}")
    print(
        f"(CPU time, median of {args.rounds} rounds of {n}; "
        f"Python {sys.version.split()[0]})"
    )


if __name__ == "__main__":
    main()
