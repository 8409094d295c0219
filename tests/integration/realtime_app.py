"""The events app the real-time server tests serve (``/ws``).

Methods, beyond ``add`` and ``echo``, let a test drive the server from
outside: rooms, ``emit_to``, calls to the client, a slow concurrent
handler, a broadcast burst, and the counters. A background task started
at import pushes ``tick`` to the room ``ticks``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

from wsocket import HTTPError, WSocketApp  # noqa: E402
from wsocket.exceptions import ConnectionClosed  # noqa: E402
from wsocket.realtime import INVALID_PARAMS, RPCError  # noqa: E402

app = WSocketApp(close_timeout=2.0)
events = app.events("/ws")

DISCONNECTED: list = []
STARTS: list = []
RELEASE = threading.Event()


@app.route("/")
def index():
    return "realtime test app"


@events.authorize
def authorize(request):
    verdict = request.query.get("auth")
    if verdict == "401":
        raise HTTPError(401, "log in", {"WWW-Authenticate": "Bearer"})
    if verdict == "403":
        return False
    return None


@events.before
def before(conn, method, params):
    if method.startswith("secret."):
        raise RPCError(4003, "forbidden")


@events.on_disconnect
def gone(conn):
    DISCONNECTED.append(conn.id)


@events.on("add")
def add(conn, params):
    if not isinstance(params, list) or len(params) != 2:
        raise RPCError(INVALID_PARAMS, "add takes two numbers")
    return params[0] + params[1]


@events.on("echo")
def echo(conn, params):
    return params


@events.on("boom")
def boom(conn, params):
    raise ValueError("a secret detail")


@events.on("secret.read")
def secret(conn, params):
    return "the secret"


@events.on("whoami")
def whoami(conn, params):
    return conn.id


@events.on("join")
def join(conn, params):
    conn.join(params["room"])
    return sorted(conn.rooms)


@events.on("say")
def say(conn, params):
    events.broadcast("said", params, room=params["room"], exclude=conn)


@events.on("emit_to")
def emit_to(conn, params):
    events.emit_to(params["id"], params["method"], params.get("params"))


@events.on("append")
def append(conn, params):
    conn.state.setdefault("log", []).append(params[0])


@events.on("log")
def log(conn, params):
    return conn.state.get("log", [])


@events.on("ask")
def ask(conn, params):
    try:
        return {
            "result": conn.call(
                params["method"],
                params.get("params"),
                timeout=params.get("timeout", 10),
            )
        }
    except RPCError as error:
        return {"error": [error.code, error.message]}
    except TimeoutError:
        return {"timeout": True}


@events.on("slow", concurrent=True)
def slow(conn, params):
    return RELEASE.wait(10)


@events.on("release")
def release(conn, params):
    RELEASE.set()
    return True


@events.on("blast")
def blast(conn, params):
    payload = "x" * params["size"]
    started = time.monotonic()
    for i in range(params["count"]):
        events.broadcast("blast", [i, payload], room=params.get("room"))
    return time.monotonic() - started


@events.on("stats")
def stats(conn, params):
    return {
        "stats": events.stats,
        "connections": len(events.connections),
        "disconnected": DISCONNECTED[-50:],
        "starts": len(STARTS),
        "pid": os.getpid(),
    }


def ticker():
    STARTS.append(time.monotonic())
    while True:
        time.sleep(0.05)
        try:
            events.broadcast("tick", None, room="ticks")
        except ConnectionClosed:  # pragma: no cover - broadcast skips closed ones
            pass


events.start_background_task(ticker)
