"""The process-wide registry of open WebSockets (wsocket.registry)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import MS, RawPeer, socket_pair, ws_pair

from wsocket import middleware, registry
from wsocket.connection import WebSocket
from wsocket.protocol import SERVER, Protocol

ROOT = Path(__file__).resolve().parent.parent


def test_register_and_unregister():
    server, client = ws_pair()
    try:
        assert server not in registry.open_websockets()
        registry.register(server)
        assert server in registry.open_websockets()
        # The documented name in wsocket.middleware is the same function.
        assert middleware.open_websockets is registry.open_websockets
        registry.unregister(server)
        registry.unregister(server)  # twice is harmless
        assert server not in registry.open_websockets()
    finally:
        server.abort()
        client.abort()


def test_close_all_sends_going_away_to_every_open_websocket():
    pairs = []
    for _ in range(3):
        a, b = socket_pair("socketpair")
        pairs.append((WebSocket(a, Protocol(SERVER)), RawPeer(b)))
    try:
        for server, _ in pairs:
            registry.register(server)
        registry.close_all()
        for _, peer in pairs:
            frame = peer.read_frame(timeout=5000 * MS)
            assert frame is not None and frame.opcode == 0x8
            assert (frame.close_code, frame.close_reason) == (
                1001,
                "server shutting down",
            )
    finally:
        for server, peer in pairs:
            registry.unregister(server)
            server.abort()
            peer.close()


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_servers_do_not_import_the_middleware():
    # The registry sits below both: a server stopping never needs the
    # middleware, and the middleware never needs a server module to register.
    for name in ("wsocket/server.py", "wsocket/servers/gunicorn.py"):
        modules = imported_modules(ROOT / name)
        assert not any(m.endswith("middleware") for m in modules), name
