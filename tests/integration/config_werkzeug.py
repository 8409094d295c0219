"""Matrix entries for werkzeug's dev server: run_simple threaded and not, and
``flask run --debug`` (debugger on, reloader off)."""

import os

from .harness import PYTHON, ServerConfig

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE = os.path.join(HERE, "serve_werkzeug.py")
FLASK_APP = "tests.integration.serve_werkzeug:flask_app"

CONFIGS = [
    ServerConfig(
        "werkzeug-threaded",
        lambda port: [PYTHON, SERVE, str(port), "threaded"],
        requires=["werkzeug"],
        keepalive=False,  # since werkzeug 2.1, every response closes
    ),
    ServerConfig(
        "werkzeug-single",
        lambda port: [PYTHON, SERVE, str(port), "single"],
        requires=["werkzeug"],
        keepalive=False,  # since werkzeug 2.1, every response closes
        concurrent=False,
    ),
    ServerConfig(
        "flask-run-debug",
        lambda port: [
            PYTHON,
            "-m",
            "flask",
            "--app",
            FLASK_APP,
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--debug",
            "--no-reload",
        ],
        requires=["flask"],
        keepalive=False,
    ),
]
