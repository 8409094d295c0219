"""One wsocket process of the fan-out benchmark.

    python benchmarks/fanout_server.py PORT REDIS_URL [MODE]

Clients call ``join`` (``{"room": "all"}``) and get every ``tick`` that
``fanout_publish.py`` broadcasts through Redis to the room. MODE is
``gevent`` (monkey-patched, the default), ``gevent-unpatched`` or
``threading``. See benchmarks/fanout.sh.
"""

import sys

MODE = sys.argv[3] if len(sys.argv) > 3 else "gevent"
if MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import os  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wsocket import WSocketApp, run  # noqa: E402
from wsocket.realtime import RedisBackend  # noqa: E402

app = WSocketApp()
events = app.events("/ws", backend=RedisBackend(sys.argv[2]))


@events.on("join")
def join(conn, params):
    conn.join(params["room"])
    return True


if __name__ == "__main__":
    server = "threading" if MODE == "threading" else "gevent"
    run(app, "127.0.0.1", int(sys.argv[1]), server, quiet=True)
