"""Matrix entries for gevent.pywsgi: with and without monkey-patching, and
with wsocket's optional handler class."""

import os

from .harness import PYTHON, ServerConfig

HERE = os.path.dirname(os.path.abspath(__file__))


def _serve(mode):
    return lambda port: [PYTHON, os.path.join(HERE, "serve_gevent.py"), str(port), mode]


CONFIGS = [
    ServerConfig("gevent-pywsgi-patched", _serve("patched"), requires=["gevent"]),
    ServerConfig("gevent-pywsgi-unpatched", _serve("unpatched"), requires=["gevent"]),
    ServerConfig("gevent-pywsgi-handler", _serve("handler"), requires=["gevent"]),
]
