"""The matrix app with keepalive pings, for the fault tests.

``PING_INTERVAL`` and ``PING_TIMEOUT`` (seconds, in the environment) set
the middleware's keepalive; both default to off, as in the matrix app.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

from tests.integration.matrix_app import inner  # noqa: E402
from wsocket import WebSocketMiddleware  # noqa: E402


def _seconds(name: str):
    value = os.environ.get(name)
    return float(value) if value else None


app = WebSocketMiddleware(
    inner,
    subprotocols=["chat.v2", "chat.v1"],
    max_message_size=16 * 2**20,
    ping_interval=_seconds("PING_INTERVAL"),
    ping_timeout=_seconds("PING_TIMEOUT"),
)
