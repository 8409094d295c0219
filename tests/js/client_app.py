"""The events app the JS client tests talk to: client_app.py PORT.

``/ws`` answers ``add``, fails ``fail`` with an error carrying data, sleeps
in ``slow`` (concurrent), echoes every ``echo`` event back, asks the client
to compute in ``ask`` (a call from the server to the client), and closes
the connection on ``drop`` so that the client has to reconnect.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

from wsocket import WSocketApp, run  # noqa: E402
from wsocket.exceptions import ConnectionClosed  # noqa: E402
from wsocket.realtime import RPCError  # noqa: E402

app = WSocketApp(close_timeout=2.0)
events = app.events("/ws")


@events.on_connect
def connected(conn):
    conn.emit("hello", {"id": conn.id})


@events.on("add")
def add(conn, params):
    return params[0] + params[1]


@events.on("fail")
def fail(conn, params):
    raise RPCError(4000, "refused", {"why": params})


@events.on("slow", concurrent=True)
def slow(conn, params):
    time.sleep(params["seconds"])
    return "late"


@events.on("echo")
def echo(conn, params):
    conn.emit("echoed", params)


@events.on("ask", concurrent=True)
def ask(conn, params):
    try:
        result = conn.call(params["method"], params.get("params"), timeout=5)
        answer = {"result": result}
    except RPCError as error:
        answer = {"code": error.code, "message": error.message, "data": error.data}
    except (TimeoutError, ConnectionClosed) as error:
        answer = {"failed": type(error).__name__}
    conn.emit("answer", answer)


@events.on("drop")
def drop(conn, params):
    conn.close(1012, "restarting")


if __name__ == "__main__":
    run(app, "127.0.0.1", int(sys.argv[1]), "threading", grace=1.0, quiet=True)
