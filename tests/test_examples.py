"""The examples, served the way their docs say, checked from outside.

Each example runs as a subprocess on a free 127.0.0.1 port, under wsocket's
own server and under the other commands its docstring gives (``flask run``,
``gunicorn -k gevent``). Every server gets the same checks: the HTML page,
a 404, a WebSocket echo with wsocket's client and with the ``websockets``
client, a clean close (1000), and a log free of errors.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import textwrap

import pytest
from integration.config_gunicorn import gunicorn_argv
from integration.harness import (
    PYTHON,
    ROOT,
    ServerConfig,
    ServerProcess,
    free_port,
    wait_for,
)

import wsocket
from wsocket.exceptions import ConnectionClosed, HandshakeError

pytestmark = pytest.mark.timeout(120)

EXAMPLES = os.path.join(ROOT, "examples")
ECHO = os.path.join(EXAMPLES, "echo.py")
FLASK_APP = os.path.join(EXAMPLES, "flask_app", "app.py")
DJANGO_DIR = os.path.join(EXAMPLES, "django_app")
DJANGO_SERVE = os.path.join(DJANGO_DIR, "serve.py")
BOTTLE_APP = os.path.join(EXAMPLES, "bottle_app", "app.py")


class Example(ServerConfig):
    """A way to serve one example, and the title its page must show."""

    def __init__(self, name, argv, *, title, **options):
        super().__init__(name, argv, **options)
        self.title = title


def script(path, *options):
    return lambda port: [PYTHON, path, "--port", str(port), *options]


EXAMPLE_SERVERS = [
    Example(
        "echo-threading",
        script(ECHO, "--server", "threading"),
        title="<h1>wsocket echo</h1>",
    ),
    Example(
        "echo-gevent",
        script(ECHO, "--server", "gevent"),
        title="<h1>wsocket echo</h1>",
        requires=["gevent"],
    ),
    Example(
        "echo-gunicorn-gevent",
        gunicorn_argv("-k", "gevent", app="echo:app"),
        cwd=EXAMPLES,
        title="<h1>wsocket echo</h1>",
        requires=["gunicorn", "gevent"],
    ),
    Example(
        "flask", script(FLASK_APP), title="<h1>Flask chat echo</h1>", requires=["flask"]
    ),
    # The command line of the Flask example's docstring, werkzeug's server.
    Example(
        "flask-run",
        lambda port: [
            PYTHON,
            "-m",
            "flask",
            "--app",
            "examples/flask_app/app",
            "run",
            "--port",
            str(port),
        ],
        title="<h1>Flask chat echo</h1>",
        requires=["flask"],
    ),
    Example(
        "django",
        script(DJANGO_SERVE),
        title="<h1>Django chat echo</h1>",
        requires=["django"],
    ),
    Example(
        "django-gunicorn-gevent",
        gunicorn_argv("-k", "gevent", app="project.wsgi:application"),
        cwd=DJANGO_DIR,
        title="<h1>Django chat echo</h1>",
        requires=["django", "gunicorn", "gevent"],
    ),
    Example(
        "bottle",
        script(BOTTLE_APP),
        title="<h1>Bottle chat echo</h1>",
        requires=["bottle"],
    ),
]


@pytest.fixture(scope="module", params=EXAMPLE_SERVERS, ids=lambda e: e.name)
def server(request):
    example: Example = request.param
    missing = example.missing()
    if missing:
        pytest.skip(f"{example.name} needs {', '.join(missing)} (pip install it)")
    with example.process() as proc:
        proc.example = example
        yield proc


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def ws_url(server):
    return f"ws://127.0.0.1:{server.port}/echo"


def test_page(server):
    status, content_type, body = http_get(server.port, "/")
    assert status == 200
    assert content_type.startswith("text/html")
    assert server.example.title.encode() in body
    # The page's script opens the WebSocket that the next tests talk to.
    assert b"/echo" in body


def test_not_found(server):
    status, _, _ = http_get(server.port, "/no/such/page")
    assert status == 404


def test_echo_with_wsocket_client(server):
    with wsocket.connect(ws_url(server), timeout=10) as ws:
        ws.send("héllo, wsocket")
        assert ws.receive(timeout=10) == "héllo, wsocket"
        ws.send(b"\x00\xff" * 1000)
        assert ws.receive(timeout=10) == b"\x00\xff" * 1000
        assert ws.close_code is None
    # The server answered our Close frame with its own, code 1000.
    assert ws.close_code == 1000


def test_echo_with_websockets_client(server):
    from websockets.sync.client import connect

    with connect(ws_url(server), open_timeout=10, close_timeout=10) as ws:
        ws.send("héllo, websockets")
        assert ws.recv(timeout=10) == "héllo, websockets"
        ws.send(b"\x01" * 70000)
        assert ws.recv(timeout=10) == b"\x01" * 70000
    assert ws.protocol.close_code == 1000


def test_a_client_that_drops_off_is_not_an_error(server):
    # No close frame: the TCP connection just goes, while the view waits in
    # receive(). The view's loop ends; nothing is logged as an error.
    baseline = server.sockets()
    ws = wsocket.connect(ws_url(server), timeout=10)
    ws.send("still there?")
    assert ws.receive(timeout=10) == "still there?"
    ws.abort()
    assert wait_for(lambda: server.sockets() <= baseline, 15), (
        f"the server still holds {server.sockets()} sockets ({baseline} before)"
    )


def test_http_still_served_and_no_errors_logged(server):
    # Runs last for each server, after the WebSocket sessions above.
    assert http_get(server.port, "/")[0] == 200
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log


@pytest.mark.parametrize(
    "path",
    [ECHO, FLASK_APP, DJANGO_SERVE, BOTTLE_APP],
    ids=["echo", "flask", "django", "bottle"],
)
def test_help(path):
    result = subprocess.run(
        [PYTHON, path, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert result.returncode == 0, result.stderr
    assert "--port" in result.stdout and "--host" in result.stdout
    if path == ECHO:
        assert "--server" in result.stdout


def test_echo_serves_16_mib_messages():
    limit = 16 * 2**20
    port = free_port()
    argv = [PYTHON, ECHO, "--port", str(port), "--server", "threading"]
    with ServerProcess(argv, port) as proc:
        # The line the quickstart shows.
        line = f"wsocket serving on http://127.0.0.1:{port}/ (threads)"
        assert wait_for(lambda: line in proc.log(), 10), proc.log()
        url = f"ws://127.0.0.1:{port}/echo"
        with wsocket.connect(url, max_message_size=None, compression=None) as ws:
            message = bytes(range(256)) * (limit // 256)
            ws.send(message)
            assert ws.receive(timeout=30) == message
        assert ws.close_code == 1000

        # One byte more is refused with 1009 (message too big).
        ws = wsocket.connect(url, max_message_size=None, compression=None)
        try:
            ws.send(b"x" * (limit + 1))
        except ConnectionClosed:
            pass  # refused before the whole message was written
        assert ws.receive(timeout=30) is None
        assert ws.close_code == 1009


def test_django_runserver_refuses_websockets_clearly():
    # The docs tell Django users that runserver serves HTTP but answers a
    # WebSocket request with 501 and a reason, rather than failing obscurely.
    pytest.importorskip("django")
    port = free_port()
    argv = [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with ServerProcess(argv, port, cwd=DJANGO_DIR):
        assert http_get(port, "/")[0] == 200
        with pytest.raises(HandshakeError) as info:
            wsocket.connect(f"ws://127.0.0.1:{port}/echo", timeout=10)
        assert info.value.status == 501
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(
                "GET",
                "/echo",
                headers={
                    "Upgrade": "websocket",
                    "Connection": "Upgrade",
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version": "13",
                },
            )
            response = conn.getresponse()
            reason = response.read()
        finally:
            conn.close()
        assert response.status == 501
        assert b"WebSocket" in reason and b"wsocket" in reason, reason


# -- the Python samples of the docs ---------------------------------------------

DOCS = os.path.join(ROOT, "docs")
DOC_PAGES = ["howto/quickstart.rst", "howto/middleware.rst", "deployment/wsocket.rst"]


def python_samples(page):
    """The ``.. code-block:: python`` blocks of a docs page, dedented."""
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        lines = f.read().splitlines()
    samples = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != ".. code-block:: python":
            i += 1
            continue
        i += 1
        block = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
            block.append(lines[i])
            i += 1
        samples.append(textwrap.dedent("\n".join(block)).strip() + "\n")
    return samples


DOC_SAMPLES = [
    pytest.param(page, code, id=f"{page[:-4]}-{n}")
    for page in DOC_PAGES
    for n, code in enumerate(python_samples(page), 1)
]


def test_docs_have_samples():
    # Guards the parametrisation below against a parser that finds nothing.
    pages = {page for page, _ in (p.values for p in DOC_SAMPLES)}
    assert pages == set(DOC_PAGES)


@pytest.fixture(scope="module")
def echo_server():
    port = free_port()
    argv = [PYTHON, ECHO, "--port", str(port), "--server", "threading"]
    with ServerProcess(argv, port) as proc:
        yield proc


@pytest.mark.parametrize("page,code", DOC_SAMPLES)
def test_doc_sample_runs(page, code, echo_server):
    """Run each sample from the examples directory, as the docs say.

    Samples that call ``wsocket.run()`` are servers: each gets a port of its
    own, must echo, and must close WebSockets with 1001 on SIGTERM. The
    others are clients or set-ups, pointed at a running echo server.
    """
    if "wsocket.run(" in code:
        port = free_port()
        argv = [PYTHON, "-c", code.replace("8080", str(port))]
        with ServerProcess(argv, port, cwd=EXAMPLES) as proc:
            ws = wsocket.connect(f"ws://127.0.0.1:{port}/echo", timeout=10)
            ws.send("sample")
            assert ws.receive(timeout=10) == "sample"
            proc.signal(signal.SIGTERM)
            assert ws.receive(timeout=10) is None
            assert ws.close_code == 1001
            assert proc.wait(15) == 0, proc.log()
            log = proc.log()
        assert "Traceback" not in log, log
        if 'server="gevent"' in code:
            assert "not monkey-patched" not in log, log
        return
    code = code.replace("8080", str(echo_server.port))
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run(
        [PYTHON, "-c", code],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    if page == "howto/quickstart.rst":
        assert result.stdout == "Hello, WebSocket\nclosed with 1000\n"
