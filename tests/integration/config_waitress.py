"""Matrix entry for waitress: HTTP only, an upgrade gets a clear 501."""

import os

from .harness import PYTHON, ServerConfig

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIGS = [
    ServerConfig(
        "waitress",
        lambda port: [PYTHON, os.path.join(HERE, "serve_waitress.py"), str(port)],
        websocket=False,
        requires=["waitress"],
    ),
]
