"""Serve the matrix app with wsocket's own run(): serve_wsocket.py PORT MODE.

Environment: ``GRACE`` (seconds, 5 by default), ``HEAD_TIMEOUT`` (seconds,
the server's default when unset) and ``APP`` (``module:attr``, the matrix
app when unset).
"""

import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

if sys.argv[2] == "gevent":
    from gevent import monkey

    monkey.patch_all()

import importlib  # noqa: E402

from wsocket import run  # noqa: E402

module, _, attr = os.environ.get("APP", "tests.integration.matrix_app:app").partition(
    ":"
)
app = getattr(importlib.import_module(module), attr)
options = {}
if os.environ.get("HEAD_TIMEOUT"):
    options["head_timeout"] = float(os.environ["HEAD_TIMEOUT"])

run(
    app,
    "127.0.0.1",
    int(sys.argv[1]),
    sys.argv[2],
    grace=float(os.environ.get("GRACE", "5")),
    **options,
)
