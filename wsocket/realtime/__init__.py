"""The real-time layer: events, calls, rooms and broadcast over WebSockets.

Usage::

    from wsocket import WSocketApp

    app = WSocketApp()
    events = app.events("/ws")

    @events.on("chat.say")
    def say(conn, params):
        events.broadcast("chat.said", params, room=conn.state.get("room"))

The wire protocol is JSON-RPC 2.0 (:mod:`wsocket.realtime.jsonrpc`), or any
other through the format hook (:class:`Format`). Sends to rooms and
connection ids go through a :class:`Backend` (:class:`MemoryBackend` by
default, :class:`RedisBackend` across processes and hosts). This package
needs neither gevent nor redis.
"""

from __future__ import annotations

from .backends import Backend, Broadcast, Delivery, MemoryBackend
from .events import DEFAULT_MAX_QUEUE, DEFAULT_MAX_QUEUE_BYTES, Connection, Events
from .jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    JSON_RPC,
    JSONRPC,
    METHOD_NOT_FOUND,
    NO_ID,
    PARSE_ERROR,
    Call,
    Decoded,
    Format,
    Invalid,
    RawMessages,
    Reply,
    RPCError,
)
from .redis import Emitter, RedisBackend
from .script import CLIENT_JS_PATH, client_js, serve_client_js

__all__ = [
    "Events",
    "Connection",
    "RPCError",
    "Backend",
    "Broadcast",
    "Delivery",
    "MemoryBackend",
    "RedisBackend",
    "Emitter",
    "Format",
    "JSONRPC",
    "JSON_RPC",
    "RawMessages",
    "Call",
    "Reply",
    "Invalid",
    "Decoded",
    "NO_ID",
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_QUEUE_BYTES",
    "CLIENT_JS_PATH",
    "client_js",
    "serve_client_js",
]
