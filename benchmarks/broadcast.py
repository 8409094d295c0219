"""Broadcast benchmark server: one process, every client in the room "all".

    python benchmarks/broadcast.py PORT [gevent|threading] [REDIS_URL]

Clients join with the call ``join {"room": "all"}``; each ``bench``
notification (from the fan-out kit's ``publish_jsonrpc.py``) is broadcast to
the room as the event ``tick``, with the publisher's params (``t``, ``n``)
unchanged. The Redis URL the kit's runner passes is ignored: everything
stays in this process. ``broadcast.sh`` runs it side by side with
Flask-SocketIO.
"""

import sys

MODE = sys.argv[2] if len(sys.argv) > 2 else "gevent"
if MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

from wsocket import WSocketApp, run  # noqa: E402

app = WSocketApp()
events = app.events("/ws")


@events.on("join")
def join(conn, params):
    conn.join(params["room"])
    return True


@events.on("bench")
def bench(conn, params):
    events.broadcast("tick", params, room="all")


if __name__ == "__main__":
    print(f"wsocket broadcast server on 127.0.0.1:{sys.argv[1]} ({MODE})", flush=True)
    run(app, "127.0.0.1", int(sys.argv[1]), MODE, quiet=True)
