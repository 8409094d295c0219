"""Serve the Django example with wsocket's own server.

From the repository root or from this directory::

    python examples/django_app/serve.py --port 8000

Running this file puts its directory first on ``sys.path``, so ``project``
imports from anywhere.
"""

from __future__ import annotations

import argparse

from project.wsgi import application

from wsocket import run


def main() -> None:
    parser = argparse.ArgumentParser(description="Django chat echo served by wsocket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # Threads: each open WebSocket holds one, as does each HTTP request.
    run(application, args.host, args.port, server="threading")


if __name__ == "__main__":
    main()
