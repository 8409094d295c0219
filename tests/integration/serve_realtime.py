"""Serve the real-time test app with run(): serve_realtime.py PORT MODE."""

import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

if sys.argv[2] == "gevent":
    from gevent import monkey

    monkey.patch_all()

from tests.integration.realtime_app import app  # noqa: E402
from wsocket import run  # noqa: E402

run(app, "127.0.0.1", int(sys.argv[1]), sys.argv[2], grace=1.0)
