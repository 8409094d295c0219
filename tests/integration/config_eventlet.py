"""Matrix entries for eventlet.wsgi.server, monkey-patched and not."""

import os

from .harness import PYTHON, ServerConfig

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE = os.path.join(HERE, "serve_eventlet.py")

CONFIGS = [
    ServerConfig(
        "eventlet-patched",
        lambda port: [PYTHON, SERVE, str(port), "patched"],
        requires=["eventlet"],
    ),
    ServerConfig(
        "eventlet-plain",
        lambda port: [PYTHON, SERVE, str(port), "plain"],
        requires=["eventlet"],
    ),
]
