"""Serve the matrix app with waitress: serve_waitress.py PORT."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from waitress import serve  # noqa: E402

from tests.integration.matrix_app import app  # noqa: E402

serve(app, host="127.0.0.1", port=int(sys.argv[1]))
