"""Serve the matrix app with gevent.pywsgi: serve_gevent.py PORT MODE.

MODE is ``patched`` (monkey-patching first, the usual deployment),
``unpatched`` (no patching: gevent's server still hands out gevent sockets)
or ``handler`` (patched, with ``handler_class=WebSocketHandler``).
"""

import os
import sys

if sys.argv[2] != "unpatched":
    from gevent import monkey

    monkey.patch_all()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import signal  # noqa: E402

import gevent  # noqa: E402
from gevent import pywsgi  # noqa: E402

from tests.integration.matrix_app import app  # noqa: E402

options = {}
if sys.argv[2] == "handler":
    from wsocket.servers.gevent import WebSocketHandler

    options["handler_class"] = WebSocketHandler

server = pywsgi.WSGIServer(("127.0.0.1", int(sys.argv[1])), app, **options)
gevent.signal_handler(signal.SIGTERM, server.stop)
server.serve_forever()
