"""The earlier wsocket package's README example, run unchanged as a script.

Only ``run(app)`` becomes ``run(app, port=N)`` so that the test can pick a
free port; every other byte is the example's.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request

import pytest

import wsocket

from .harness import PYTHON, ServerProcess, free_port, wait_for

pytestmark = pytest.mark.timeout(120)

SEED_EXAMPLE = """\
from wsocket import WSocketApp, WebSocketError, logger, run
from time import sleep
logger.setLevel(10) # for debugging
app = WSocketApp()
# app = WSocketApp(protocol="WAMP")
@app.route("/")
def handle_websocket(environ, start_response):
    wsock = environ.get("wsgi.websocket")
    if not wsock:
        start_response()
        return "Hello World!"
    while True:
        try:
            message = wsock.receive()
            if message != None:
                print("participator : " + message)
                wsock.send("you : "+message)
                sleep(2)
                wsock.send("you : "+message)
        except WebSocketError:
            break
run(app)
"""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its threads, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    # Fields 14 and 15 of stat(5), counted after the command name (field 2).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def seed_server(tmp_path):
    port = free_port()
    script = tmp_path / "seed_app.py"
    source = SEED_EXAMPLE.replace("run(app)\n", f"run(app, port={port})\n")
    assert source.count(f"port={port}") == 1
    script.write_text(source)
    with ServerProcess([PYTHON, str(script)], port, cwd=str(tmp_path)) as server:
        yield server


def test_seed_example_serves_http_and_two_clients_without_waiting(seed_server):
    port = seed_server.port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
        assert page.read() == b"Hello World!"

    replies = {}
    clients = [wsocket.connect(f"ws://127.0.0.1:{port}/") for _ in range(2)]

    def talk(index: int) -> None:
        ws = clients[index]
        ws.send(f"x{index}")
        replies[index] = [ws.receive(timeout=10), ws.receive(timeout=10)]

    started = time.monotonic()
    threads = [threading.Thread(target=talk, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    elapsed = time.monotonic() - started
    assert replies == {0: ["you : x0", "you : x0"], 1: ["you : x1", "you : x1"]}
    # Each handler sleeps 2 s between its two replies; one after the other
    # would take 4 s.
    assert elapsed < 3.5, f"the clients waited on each other ({elapsed:.1f}s)"
    for ws in clients:
        ws.close()
        assert ws.close_code == 1000

    # Both handlers leave their loops: the server goes quiet.
    time.sleep(0.5)  # let the handlers see the close
    before = cpu_seconds(seed_server.pid)
    time.sleep(2)
    used = cpu_seconds(seed_server.pid) - before
    assert used < 0.2, (
        f"the server used {used:.2f}s of CPU in 2s after the clients left"
    )
    log = seed_server.log()
    assert "participator : x0" in log and "participator : x1" in log
    assert "Traceback" not in log and " ERROR " not in log, log
    assert " WARNING " not in log, log
    # logger.setLevel(10) shows wsocket's debug output; the start-up line
    # says which mode runs and why.
    assert "DEBUG wsocket.protocol < CLOSE 1000" in log, log
    assert 'INFO wsocket.access 127.0.0.1 "GET /" 200 12 ' in log, log
    assert "threads, since gevent is not" in log, log


def test_seed_example_client_that_drops_off_does_not_spin(seed_server):
    port = seed_server.port
    ws = wsocket.connect(f"ws://127.0.0.1:{port}/")
    ws.send("bye")
    assert ws.receive(timeout=10) == "you : bye"
    ws.abort()  # no close frame
    time.sleep(2.5)  # the handler's sleep(2), then its next receive()
    before = cpu_seconds(seed_server.pid)
    time.sleep(2)
    used = cpu_seconds(seed_server.pid) - before
    assert used < 0.2, f"the server used {used:.2f}s of CPU in 2s after the drop"
    assert wait_for(lambda: "Traceback" not in seed_server.log(), 1)
