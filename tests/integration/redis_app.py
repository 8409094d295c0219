"""The events app of the Redis tests: one endpoint on a RedisBackend.

Environment: ``WSOCKET_TEST_REDIS`` (the server's URL) and
``WSOCKET_TEST_LOCK_EXPIRY`` (seconds, for the ``once=True`` task). The
task pushes this process's id to the Redis list ``once-ran`` every 0.1 s,
so a test sees which process runs it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

from wsocket import WSocketApp  # noqa: E402
from wsocket.realtime import RedisBackend  # noqa: E402

logging.basicConfig(
    level=logging.INFO,
    stream=sys.stderr,
    format="%(levelname)s %(process)d %(name)s %(message)s",
)

REDIS_URL = os.environ["WSOCKET_TEST_REDIS"]
LOCK_EXPIRY = float(os.environ.get("WSOCKET_TEST_LOCK_EXPIRY", "10"))

app = WSocketApp(close_timeout=2.0)
events = app.events(
    "/ws",
    backend=RedisBackend(REDIS_URL, lock_expiry=LOCK_EXPIRY, reconnect_max=0.5),
)


@app.route("/")
def index():
    return f"redis test app {os.getpid()}"


@events.on("whoami")
def whoami(conn, params):
    return {"id": conn.id, "pid": os.getpid()}


@events.on("join")
def join(conn, params):
    conn.join(params["room"])
    return sorted(conn.rooms)


@events.on("say")
def say(conn, params):
    events.broadcast("said", params, room=params.get("room"), exclude=conn)
    return True


@events.on("emit_to")
def emit_to(conn, params):
    events.emit_to(params["id"], params["method"], params.get("params"))
    return True


@events.on("stats")
def stats(conn, params):
    return {"stats": events.stats, "pid": os.getpid()}


def heartbeat():
    # The beats block (time.sleep, a blocking Redis client): a thread of
    # their own keeps them off gevent's hub when gevent is not patched.
    threading.Thread(target=beat, daemon=True).start()


def beat():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    while True:
        try:
            client.rpush("once-ran", os.getpid())
        except redis.RedisError:
            pass
        time.sleep(0.1)


events.start_background_task(heartbeat, once=True)
