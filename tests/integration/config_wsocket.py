"""Matrix entries for wsocket's own server, threaded and gevent."""

import os

from .harness import PYTHON, ServerConfig

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIGS = [
    ServerConfig(
        "wsocket-threading",
        lambda port: [
            PYTHON,
            os.path.join(HERE, "serve_wsocket.py"),
            str(port),
            "threading",
        ],
    ),
    ServerConfig(
        "wsocket-gevent",
        lambda port: [
            PYTHON,
            os.path.join(HERE, "serve_wsocket.py"),
            str(port),
            "gevent",
        ],
        requires=["gevent"],
    ),
]
