"""Serve the matrix app with eventlet.wsgi.server: serve_eventlet.py PORT MODE.

MODE ``patched`` calls ``eventlet.monkey_patch()`` first, as eventlet
recommends; ``plain`` does not.
"""

import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

with warnings.catch_warnings():
    # eventlet announces its deprecation on import; the server still works.
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.wsgi

if sys.argv[2] == "patched":
    eventlet.monkey_patch()

from tests.integration.matrix_app import app  # noqa: E402

eventlet.wsgi.server(eventlet.listen(("127.0.0.1", int(sys.argv[1]))), app)
