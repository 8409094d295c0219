"""Tests for wsocket.servers.gevent: WebSockets under gevent.pywsgi.

Recognition is checked here without gevent; the server itself runs in a
subprocess (``integration/serve_gevent.py``), patched or not, with or
without ``WebSocketHandler``: those tests are in the integration lane.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys

import pytest
from helpers import ROOT_DIR, assert_echoes, tcp_pair
from integration.harness import PYTHON, ServerProcess, free_port

from wsocket.servers.gevent import ADAPTER, HANDLER_KEY, pywsgi_reader

SERVE = f"{ROOT_DIR}/tests/integration/serve_gevent.py"


def test_importing_the_adapter_imports_no_gevent() -> None:
    code = (
        "import sys, wsocket.servers.gevent as g; "
        "assert g.ADAPTER.name == 'gevent'; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gevent'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_environs_that_are_not_gevent_s_are_not_taken() -> None:
    a, b = tcp_pair()
    with a, b:
        plain_reader = a.makefile("rb")
        # A buffered reader over a plain socket is not gevent's.
        assert pywsgi_reader({"wsgi.input": plain_reader}) is None
        environ = {"SERVER_SOFTWARE": "gevent/26 Python/3", "wsgi.input": plain_reader}
        assert not ADAPTER.matches(environ)
        plain_reader.close()
    assert pywsgi_reader({"wsgi.input": io.BytesIO(b"")}) is None
    assert not ADAPTER.matches({"SERVER_SOFTWARE": "gunicorn/22"})
    # The key WebSocketHandler adds is enough.
    assert ADAPTER.matches({HANDLER_KEY: object()})
    assert ADAPTER.close_socket is False


@pytest.mark.parametrize("mode", ["patched", "unpatched", "handler"])
def test_echo_under_pywsgi_in_a_subprocess(mode: str) -> None:
    if importlib.util.find_spec("gevent") is None:
        pytest.skip("gevent is not installed")
    port = free_port()
    with ServerProcess([PYTHON, SERVE, str(port), mode], port):
        assert_echoes(port, "/echo")
        assert_echoes(port, "/echo", compression=None)
