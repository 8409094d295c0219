"""Matrix entries for uWSGI: threads on --http11-socket, gevent on
--http-socket, and gevent behind uWSGI's own HTTP router (--http
--http-websockets).

A WebSocket occupies a request core (thread or greenlet) for its whole life,
so uWSGI runs with several of them. gevent is not paired with
--http11-socket: with uWSGI 2.0's gevent loop that socket stalls on the
second request of a kept-alive connection, WebSocket or not.
"""

import os
import sys

from .harness import BIN, ServerConfig

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "matrix_app.py")
UWSGI = os.path.join(BIN, "uwsgi")
# The uwsgi module exists only inside the server; the pip package that builds
# the server also installs uwsgidecorators.
REQUIRES = ["uwsgidecorators"]


def _uwsgi(*listen: str, cores: tuple):
    def argv(port: int):
        return [
            UWSGI,
            *(arg.format(port=port) for arg in listen),
            "--wsgi-file",
            APP,
            "--callable",
            "app",
            "--home",
            sys.prefix,
            "--master",
            "--die-on-term",
            "--need-app",
            "--buffer-size",
            "32768",
            *cores,
        ]

    return argv


CONFIGS = [
    ServerConfig(
        "uwsgi-threads",
        _uwsgi("--http11-socket", "127.0.0.1:{port}", cores=("--threads", "8")),
        requires=REQUIRES,
        early_frames=False,
    ),
    ServerConfig(
        "uwsgi-gevent",
        _uwsgi("--http-socket", "127.0.0.1:{port}", cores=("--gevent", "100")),
        requires=REQUIRES + ["gevent"],
        # --http-socket closes every HTTP connection (without saying so).
        keepalive=False,
        early_frames=False,
    ),
    ServerConfig(
        "uwsgi-gevent-router",
        _uwsgi(
            "--http",
            "127.0.0.1:{port}",
            "--http-websockets",
            "--http-keepalive",
            cores=("--gevent", "100"),
        ),
        requires=REQUIRES + ["gevent"],
        early_frames=False,
    ),
]
