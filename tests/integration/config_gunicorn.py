"""Matrix entries for gunicorn, one per worker kind, each with one worker.

gunicorn's sync worker closes the connection after every response, so it
joins the matrix only where the harness lets a config opt out of the
keep-alive check (``ServerConfig(keepalive=False)``).
"""

from .harness import PYTHON, ServerConfig


def _no_control_socket():
    # gunicorn >= 25.1 opens a control socket at one path per user: servers
    # started side by side would fight over it.
    try:
        import gunicorn.config
    except ImportError:
        return []
    if hasattr(gunicorn.config, "ControlSocketDisable"):
        return ["--no-control-socket"]
    return []


def gunicorn_argv(*options, app="tests.integration.matrix_app:app"):
    """Build the command line of a one-worker gunicorn on 127.0.0.1:PORT."""
    return lambda port: [
        PYTHON,
        "-m",
        "gunicorn",
        "-w",
        "1",
        "-b",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "5",
        *_no_control_socket(),
        *options,
        app,
    ]


CONFIGS = [
    ServerConfig(
        "gunicorn-gevent",
        gunicorn_argv("-k", "gevent"),
        requires=["gunicorn", "gevent"],
    ),
    ServerConfig(
        "gunicorn-gevent_pywsgi",
        gunicorn_argv("-k", "gevent_pywsgi"),
        requires=["gunicorn", "gevent"],
    ),
    ServerConfig(
        "gunicorn-gthread",
        gunicorn_argv("-k", "gthread", "--threads", "4"),
        requires=["gunicorn"],
    ),
    # One sync worker serves one connection at a time.
    ServerConfig(
        "gunicorn-sync",
        gunicorn_argv("-k", "sync"),
        keepalive=False,
        concurrent=False,
        requires=["gunicorn"],
    ),
]
