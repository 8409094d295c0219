"""'Hello, World!' over plain HTTP, for the HTTP table of benchmarks/run.sh.

    python http_hello.py PORT SERVER APP

SERVER: ``wsocket-gevent`` or ``wsocket-threading`` (wsocket's own server),
or ``pywsgi-nodelay`` (gevent.pywsgi with TCP_NODELAY, as the peers' rows).
APP: ``bare`` (a plain WSGI function), ``wsocketapp`` (a WSocketApp route)
or ``bottle`` (a Bottle route). Comparing the three apps under one server
shows what each framework layer costs.
"""

from __future__ import annotations

import socket
import sys

BODY = b"Hello, World!"


def bare(environ, start_response):
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]


def make_wsocketapp():
    from wsocket import WSocketApp

    app = WSocketApp()

    @app.route("/")
    def index():
        return "Hello, World!"

    return app


def make_bottle():
    import bottle

    app = bottle.Bottle()

    @app.route("/")
    def index():
        return "Hello, World!"

    return app


def main() -> None:
    port, server, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = {"bare": lambda: bare, "wsocketapp": make_wsocketapp, "bottle": make_bottle}[
        name
    ]()
    if server == "pywsgi-nodelay":
        from gevent import pywsgi

        class NoDelay(pywsgi.WSGIServer):
            def handle(self, sock, address):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return super().handle(sock, address)

        NoDelay(("127.0.0.1", port), app, log=None).serve_forever()
        return
    from wsocket import run

    mode = {"wsocket-gevent": "gevent", "wsocket-threading": "threading"}[server]
    run(app, "127.0.0.1", port, mode, quiet=True)


if __name__ == "__main__":
    main()
