"""A chat with rooms, over wsocket's events and its browser client.

    python examples/chat/app.py --port 8000

then open http://127.0.0.1:8000/ in two browser windows. ``--redis URL``
shares rooms between several processes through Redis.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Optional

from wsocket import WSocketApp, run
from wsocket.realtime import INVALID_PARAMS, RPCError

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "index.html"), encoding="utf-8") as page:
    PAGE = page.read()


def text_param(params: Any, key: str, limit: int) -> str:
    """``params[key]``, a string of at most ``limit`` characters."""
    value = params.get(key) if isinstance(params, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise RPCError(INVALID_PARAMS, f"{key} must be a non-empty string")
    return value.strip()[:limit]


def create_app(backend: Optional[Any] = None) -> WSocketApp:
    app = WSocketApp()
    chat = app.events("/ws", **({} if backend is None else {"backend": backend}))

    @app.route("/")
    def index():
        return PAGE

    @chat.on("chat.join")
    def join(conn, params):
        # A page joins on connect and again when its room changes.
        room = text_param(params, "room", 64)
        for old in conn.rooms:
            conn.leave(old)
        conn.join(room)
        return room

    @chat.on("chat.say")
    def say(conn, params):
        name = text_param(params, "name", 32)
        text = text_param(params, "text", 1000)
        message = {"name": name, "text": text}
        for room in conn.rooms:
            chat.broadcast("chat.message", message, room=room)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis", metavar="URL", help="share rooms through Redis")
    args = parser.parse_args()
    backend = None
    if args.redis:
        from wsocket.realtime import RedisBackend

        try:
            backend = RedisBackend(args.redis)
        except ValueError as exc:
            parser.error(f"--redis: {exc}")
    run(create_app(backend), args.host, args.port)


if __name__ == "__main__":
    main()
