"""'Hello, World!' over plain HTTP from wsocket's own server, for the HTTP table.

    python http_hello.py PORT wsocket-gevent|wsocket-threading

The app is the bare WSGI function the peers' table uses, wrapped in
WebSocketMiddleware as a real deployment would be, so the row shows what
the server and the middleware cost a plain HTTP request.
"""

from __future__ import annotations

import sys

from wsocket import WebSocketMiddleware, run

BODY = b"Hello, World!"


def bare(environ, start_response):
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]


if __name__ == "__main__":
    port = int(sys.argv[1])
    server = {"wsocket-gevent": "gevent", "wsocket-threading": "threading"}[sys.argv[2]]
    run(WebSocketMiddleware(bare), "127.0.0.1", port, server, quiet=True)
