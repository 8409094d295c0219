"""A WebSocket echo server on gevent, run as a subprocess by the tests.

Usage: ``python gevent_echo_server.py [--no-patch] [--no-compression]
[--ping-interval SECONDS]``

By default it monkey-patches the standard library first, as a gevent
deployment does; the pytest process never does, so the patching cannot leak
into other tests. With ``--no-patch`` nothing is patched and the connections
still get gevent sockets from ``gevent.server.StreamServer``.

It listens on 127.0.0.1 on a free port, prints ``PORT <n>`` on stdout, serves
an echo (the message ``"primitives?"`` is answered with the name of the
concurrency primitives the connection uses) and exits on SIGTERM.
"""

import sys

if __name__ == "__main__" and "--no-patch" not in sys.argv:
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import signal  # noqa: E402

import gevent  # noqa: E402
import gevent.server  # noqa: E402
from helpers import ServerOptions, accept_websocket  # noqa: E402

from wsocket.deflate import DeflateOptions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-patch", action="store_true")
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--ping-interval", type=float, default=None)
    args = parser.parse_args()

    options = ServerOptions(
        compression=None if args.no_compression else DeflateOptions(),
        max_message_size=None,
        ping_interval=args.ping_interval,
    )

    def handle(sock, addr):
        ws = accept_websocket(
            sock, options, server_addr=server.address, client_addr=addr
        )
        if ws is None:
            return
        try:
            while True:
                message = ws.receive()
                if message is None:
                    break
                if message == "primitives?":
                    message = ws._prim.name
                ws.send(message)
        finally:
            ws.close()

    server = gevent.server.StreamServer(("127.0.0.1", 0), handle)
    server.start()
    gevent.signal_handler(signal.SIGTERM, server.close)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
