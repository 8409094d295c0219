"""Serve the matrix app with werkzeug's dev server: serve_werkzeug.py PORT MODE.

MODE is ``threaded`` or ``single`` (``run_simple(threaded=...)``). Imported
(by ``flask --app tests.integration.serve_werkzeug:flask_app run``), the
module offers ``flask_app``, a Flask app whose WSGI callable is the matrix app.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.integration.matrix_app import app  # noqa: E402

if __name__ == "__main__":
    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=sys.argv[2] == "threaded")
else:
    from flask import Flask

    flask_app = Flask(__name__)
    flask_app.wsgi_app = app  # type: ignore[method-assign]
