"""Serve the Redis test app with run(): serve_redis.py PORT MODE.

MODE is ``threading``, ``gevent`` (monkey-patched) or ``gevent-unpatched``
(run()'s gevent server without monkey-patching).
"""

import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

mode = sys.argv[2]
if mode == "gevent":
    from gevent import monkey

    monkey.patch_all()

from tests.integration.redis_app import app  # noqa: E402
from wsocket import run  # noqa: E402

run(app, "127.0.0.1", int(sys.argv[1]), mode.replace("-unpatched", ""), grace=1.0)
