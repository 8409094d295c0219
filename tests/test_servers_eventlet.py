"""Tests for wsocket.servers.eventlet: WebSockets under eventlet.wsgi.

The server runs in a subprocess (``integration/serve_eventlet.py``), so
those tests are in the integration lane; recognition and the environ fix
are checked here without eventlet.
"""

from __future__ import annotations

import importlib.util

import pytest
from helpers import ROOT_DIR, assert_echoes
from integration.harness import PYTHON, ServerProcess, free_port

from wsocket.servers import find_adapter
from wsocket.servers.eventlet import ADAPTER

SERVE = f"{ROOT_DIR}/tests/integration/serve_eventlet.py"


def test_the_environ_is_recognised_by_eventlet_s_input() -> None:
    assert find_adapter({"eventlet.input": object()}) is ADAPTER
    assert not ADAPTER.matches({"wsgi.input": object()})
    assert ADAPTER.close_socket is False


@pytest.mark.parametrize(
    "protocol,taken_as", [("HTTP/1.0", "HTTP/1.1"), ("HTTP/1.1", "HTTP/1.1")]
)
def test_prepare_takes_eventlet_s_http_1_0_as_1_1(protocol: str, taken_as: str) -> None:
    environ = {"SERVER_PROTOCOL": protocol}
    ADAPTER.prepare(environ)
    assert environ == {"SERVER_PROTOCOL": taken_as}


@pytest.mark.parametrize("mode", ["patched", "plain"])
def test_echo_under_eventlet_in_a_subprocess(mode: str) -> None:
    if importlib.util.find_spec("eventlet") is None:
        pytest.skip("eventlet is not installed")
    port = free_port()
    with ServerProcess([PYTHON, SERVE, str(port), mode], port):
        assert_echoes(port, "/echo")
