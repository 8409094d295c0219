"""The ``wsocket`` command, run as the installed console script in a subprocess.

Each command, each error (one line on stderr, a non-zero status, never a
traceback), ``run`` on both server modes, ``--workers 2`` serving WebSockets
from two processes with background tasks in each, ``--reload`` picking up an
edit, and ``new`` writing a project whose own tests pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pytest
from helpers import MS, wait_for
from integration.harness import ServerProcess, children, free_port
from test_browser import browser  # noqa: F401 - the Chromium fixture

import wsocket

BIN = os.path.dirname(sys.executable)
SCRIPT = shutil.which("wsocket", path=BIN) or shutil.which("wsocket")

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        SCRIPT is None,
        reason="the wsocket console script is not installed: pip install the package",
    ),
]

# An app for `wsocket run`: its pid over HTTP and WebSocket, whether
# gevent's monkey-patching came before its import, and a background task of
# the real-time layer that leaves a file named after the process it runs in.
APP = """
import os
import time

from wsocket import WSocketApp

PATCHED_AT_IMPORT = False
if "gevent" in __import__("sys").modules:
    import gevent.monkey

    PATCHED_AT_IMPORT = gevent.monkey.is_module_patched("time")

app = WSocketApp()
events = app.events("/ws")
TASKS = os.environ.get("TASKS_DIR")


def record_process():
    if TASKS:
        with open(os.path.join(TASKS, f"task-{os.getpid()}"), "w") as f:
            f.write("started")


events.start_background_task(record_process)


@app.route("/")
def index():
    return VERSION


@app.route("/pid")
def pid():
    return str(os.getpid())


@app.route("/patched")
def patched():
    return str(PATCHED_AT_IMPORT)


@app.websocket("/echo")
def echo(ws):
    for message in ws:
        ws.send(f"{os.getpid()} {message}")


@events.on("pid")
def get_pid(conn, params):
    return os.getpid()


VERSION = "v1"
"""


def write_app(folder: Path, version: str = "v1", name: str = "served.py") -> Path:
    path = folder / name
    path.write_text(APP.replace('VERSION = "v1"', f"VERSION = {version!r}"))
    return path


def wsocket_cli(
    *args: str, cwd: Optional[Path] = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None
    return subprocess.run(
        [SCRIPT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def serve(folder: Path, *args: str, env: Optional[dict] = None) -> ServerProcess:
    port = free_port()
    assert SCRIPT is not None
    return ServerProcess(
        [SCRIPT, "run", *args, "--port", str(port)], port, cwd=str(folder), env=env
    )


def get(port: int, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def try_get(port: int, path: str = "/") -> Optional[str]:
    try:
        return get(port, path)
    except OSError:
        return None


# -- version ----------------------------------------------------------------------


def expected_modes() -> str:
    try:
        import gevent  # noqa: F401
    except ImportError:
        return "server modes: threading (gevent not installed)"
    return f"server modes: threading, gevent (gevent {gevent.__version__})"


@pytest.mark.parametrize("args", [["version"], ["--version"]])
def test_version(args: List[str]) -> None:
    from wsocket import speedups

    result = wsocket_cli(*args)
    assert result.returncode == 0
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"wsocket {wsocket.__version__}"
    assert lines[1].startswith(f"Python {sys.version.split()[0]} ")
    assert lines[2] == expected_modes()
    masking = (
        "masking: C accelerator (wsocket._speedups)"
        if speedups.ACCELERATED
        else "masking: pure Python (the C accelerator is not built)"
    )
    assert lines[3] == masking
    assert len(lines) == 4


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsocket", "version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"wsocket {wsocket.__version__}"


def test_speedups_tells_what_masks() -> None:
    from wsocket import frames, speedups, utils

    try:
        import wsocket._speedups as accelerator
    except ImportError:
        assert speedups.ACCELERATED is False
        assert frames.apply_mask is utils.apply_mask
    else:
        assert speedups.ACCELERATED is True
        assert frames.apply_mask is accelerator.apply_mask
    assert speedups.IMPLEMENTATION == ("C" if speedups.ACCELERATED else "Python")


def test_version_without_the_accelerator() -> None:
    # As an installation without the C extension: its import fails.
    code = (
        "import sys; sys.modules['wsocket._speedups'] = None\n"
        "import wsocket.speedups as s; print(s.ACCELERATED, s.IMPLEMENTATION)\n"
        "from wsocket.cli import main; sys.exit(main(['version']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "False Python"
    assert lines[-1] == "masking: pure Python (the C accelerator is not built)"


def test_no_command_prints_help() -> None:
    result = wsocket_cli()
    assert result.returncode == 2
    assert "run" in result.stdout and "new" in result.stdout
    assert "version" in result.stdout


# -- errors -----------------------------------------------------------------------


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], status: int, *fragments: str
) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == status, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wsocket"), lines
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args,status,fragments",
    [
        (
            ["run", "no_such_module:app"],
            2,
            ["cannot import 'no_such_module'", "no module named 'no_such_module'"],
        ),
        (["run", "served:nope"], 2, ["module 'served'", "has no attribute 'nope'"]),
        (["run", "served:VERSION"], 2, ["is str object, not a WSGI application"]),
        (["run", "not a module"], 2, ["is not a module path"]),
        (
            ["run", "served:app", "--host", "no-such-host.invalid"],
            1,
            ["cannot listen on host 'no-such-host.invalid'", "address of this machine"],
        ),
        (
            ["run", "served:app", "--host", "192.0.2.1"],
            1,
            ["cannot listen on host '192.0.2.1'", "Cannot assign requested address"],
        ),
        (["run", "served:app", "--port", "70000"], 2, ["not between 0 and 65535"]),
        (["run", "served:app", "--port", "http"], 2, ["port 'http' is not a number"]),
        (["run", "served:app", "--workers", "0"], 2, ["--workers", "not at least 1"]),
        (["run", "served:app", "--server", "tornado"], 2, ["invalid choice"]),
        (["run", "served:app", "--frobnicate"], 2, ["unrecognized arguments"]),
        (["run"], 2, ["required: MODULE:APP"]),
        (["serve"], 2, ["invalid choice: 'serve'"]),
        (["new", "my-project"], 2, ["not a usable project name"]),
        (["run", "no_such_module:app", "--workers", "2"], 2, ["no_such_module"]),
        (["run", "served:nope", "--reload"], 2, ["has no attribute 'nope'"]),
    ],
)
def test_bad_arguments(
    tmp_path: Path, args: List[str], status: int, fragments: Sequence[str]
) -> None:
    write_app(tmp_path)
    if args[0] == "run" and len(args) > 1 and "--port" not in args:
        args = [*args, "--port", str(free_port())]
    result = wsocket_cli(*args, cwd=tmp_path)
    assert_one_line_error(result, status, *fragments)


def test_port_in_use(tmp_path: Path) -> None:
    write_app(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for extra in ([], ["--workers", "2"], ["--reload"]):
            result = wsocket_cli(
                "run", "served:app", "--port", str(port), *extra, cwd=tmp_path
            )
            assert_one_line_error(
                result, 1, f"wsocket: port {port} on 127.0.0.1 is already in use"
            )


def test_new_refuses_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    result = wsocket_cli("new", "demo", cwd=tmp_path)
    assert_one_line_error(result, 2, "'demo' exists already")
    assert list((tmp_path / "demo").iterdir()) == []


# -- run --------------------------------------------------------------------------


async def echo_over_websockets(port: int, text: str) -> str:
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/echo") as ws:
        await ws.send(text)
        reply = await ws.recv()
    assert isinstance(reply, str)
    return reply


def open_websocket(port: int, path: str = "/echo") -> Any:
    return wsocket.connect(f"ws://127.0.0.1:{port}{path}", timeout=10)


def sigterm_closes_with_1001(server: ServerProcess, sockets: List[Any]) -> None:
    server.signal(signal.SIGTERM)
    for ws in sockets:
        assert ws.receive(timeout=15) is None
        assert ws.close_code == 1001
    assert server.wait(15) == 0, server.log()


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_run_serves_http_and_websockets(tmp_path: Path, mode: str) -> None:
    if mode == "gevent":
        pytest.importorskip("gevent")
    write_app(tmp_path)
    with serve(tmp_path, "served:app", "--server", mode) as server:
        assert get(server.port) == "v1"
        pid = str(server.pid)
        assert get(server.port, "/pid") == pid  # served by the command itself
        # --server gevent patches before the app is imported; threading never.
        assert get(server.port, "/patched") == str(mode == "gevent")
        reply = asyncio.run(echo_over_websockets(server.port, "hello"))
        assert reply == f"{pid} hello"
        ws = open_websocket(server.port)
        sigterm_closes_with_1001(server, [ws])
        log = server.log()
        assert "Traceback" not in log, log
    why = "gevent, monkey-patched" if mode == "gevent" else "threads"
    assert f"wsocket serving on http://127.0.0.1:{server.port}/ ({why});" in log


@pytest.mark.integration
def test_run_auto_follows_an_app_that_patches(tmp_path: Path) -> None:
    pytest.importorskip("gevent")
    (tmp_path / "patching.py").write_text(
        "from gevent import monkey\nmonkey.patch_all()\nfrom served import app\n"
    )
    write_app(tmp_path)
    with serve(tmp_path, "patching:app") as server:
        assert get(server.port) == "v1"
        assert "(gevent, monkey-patched)" in server.log()


@pytest.mark.integration
def test_log_level_warning_hides_the_access_log(tmp_path: Path) -> None:
    write_app(tmp_path)
    with serve(tmp_path, "served:app", "--log-level", "warning") as server:
        assert get(server.port) == "v1"
        server.signal(signal.SIGTERM)
        assert server.wait(15) == 0
        log = server.log()
    assert "wsocket serving on" not in log
    assert '"GET /"' not in log


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_workers_share_the_socket(tmp_path: Path, mode: str) -> None:
    if mode == "gevent":
        pytest.importorskip("gevent")
    write_app(tmp_path)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    with serve(
        tmp_path,
        "served:app",
        "--workers",
        "2",
        "--server",
        mode,
        env={"TASKS_DIR": str(tasks)},
    ) as server:
        assert wait_for(lambda: len(children(server.pid)) == 2, 10000 * MS)
        workers = set(children(server.pid))
        assert wait_for(lambda: "2 workers serving" in server.log(), 30000 * MS)
        # WebSockets from both processes: connect until each has answered.
        owner = {}
        while set(owner.values()) != workers:
            assert len(owner) < 64, f"only {set(owner.values())} of {workers} answered"
            ws = open_websocket(server.port, "/ws")
            ws.send(json.dumps({"jsonrpc": "2.0", "method": "pid", "id": 1}))
            owner[ws] = json.loads(ws.receive(timeout=10))["result"]
        # The background task started in each worker, after the fork, and
        # never in the parent (which does not import the app at all).
        wait_for(
            lambda: (
                {p.name for p in tasks.iterdir()} == {f"task-{pid}" for pid in workers}
            ),
            10000 * MS,
        )
        # A worker that dies is replaced; its WebSockets are cut.
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        wait_for(
            lambda: (
                len(children(server.pid)) == 2 and victim not in children(server.pid)
            ),
            10000 * MS,
        )
        wait_for(
            lambda: (
                f"worker {victim} was killed by signal 9; starting another"
                in server.log()
            ),
            5000 * MS,
        )
        for ws in [ws for ws, pid in owner.items() if pid == victim]:
            assert ws.receive(timeout=10) is None
            assert ws.close_code == 1006
        survivors = [ws for ws, pid in owner.items() if pid != victim]
        sigterm_closes_with_1001(server, survivors)
        assert children(server.pid) == []
        assert "Traceback" not in server.log(), server.log()


@pytest.mark.integration
def test_sigterm_with_workers_closes_every_websocket(tmp_path: Path) -> None:
    write_app(tmp_path)
    with serve(tmp_path, "served:app", "--workers", "2") as server:
        assert wait_for(lambda: "2 workers serving" in server.log(), 30000 * MS)
        workers = set(children(server.pid))
        sockets, seen = [], set()
        while seen != workers:
            assert len(sockets) < 64, f"only {seen} of {workers} answered"
            ws = open_websocket(server.port)
            ws.send("hi")
            reply = ws.receive(timeout=10)
            seen.add(int(reply.split()[0]))
            sockets.append(ws)
        sigterm_closes_with_1001(server, sockets)
        for pid in workers:
            assert not os.path.exists(f"/proc/{pid}")
        log = server.log()
        assert log.count("wsocket serving on") == 2, log


@pytest.mark.integration
def test_reload_picks_up_an_edit(tmp_path: Path) -> None:
    path = write_app(tmp_path, "v1")
    with serve(tmp_path, "served:app", "--reload") as server:
        assert get(server.port) == "v1"
        first = get(server.port, "/pid")
        write_app(tmp_path, "v2")
        # A coarse file system clock must still see a change.
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        assert wait_for(lambda: try_get(server.port) == "v2", 20000 * MS)
        assert get(server.port, "/pid") != first
        log = server.log()
        assert f"wsocket: {path} changed" in log
        # A file that is not Python changes nothing.
        (tmp_path / "notes.txt").write_text("hello")
        server.signal(signal.SIGTERM)
        assert server.wait(15) == 0
    assert log.count("wsocket serving on") == 2, log


@pytest.mark.integration
def test_reload_survives_a_broken_edit(tmp_path: Path) -> None:
    path = write_app(tmp_path, "v1")
    with serve(tmp_path, "served:app", "--reload") as server:
        assert get(server.port) == "v1"
        path.write_text("this is not python\n")
        assert wait_for(
            lambda: "waiting for a change to start it again" in server.log(),
            20000 * MS,
        )
        write_app(tmp_path, "v3")
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 4_000_000_000))
        assert wait_for(lambda: try_get(server.port) == "v3", 20000 * MS)


# -- new --------------------------------------------------------------------------


@pytest.mark.integration
def test_new_project_passes_its_tests_and_serves(tmp_path: Path) -> None:
    result = wsocket_cli("new", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "demo"
    names = sorted(
        str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()
    )
    assert names == [
        "README.md",
        "app.py",
        "pyproject.toml",
        "static/index.html",
        "static/style.css",
        "test_app.py",
    ]
    readme = (project / "README.md").read_text()
    assert "# demo" in readme
    assert "\npytest\n" in readme and "\nwsocket run app:app --reload\n" in readme
    assert "{{" not in readme + (project / "static/index.html").read_text()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout
    with serve(project, "app:app") as server:
        page = get(server.port)
        assert 'new WSocketClient("/ws")' in page
        # The script the page loads is served by the app, since it has events.
        assert "WSocketClient" in get(server.port, "/wsocket.js")
        assert asyncio.run(echo_over_websockets(server.port, "hi")) == "hi"
        assert json.loads(get(server.port, "/api/hello/Ada")) == {"hello": "Ada"}


@pytest.mark.integration
@pytest.mark.browser
def test_new_project_chats_in_chromium(tmp_path: Path, browser: Any) -> None:  # noqa: F811
    from test_browser import PAGE_WAIT

    assert wsocket_cli("new", "demo", cwd=tmp_path).returncode == 0
    with serve(tmp_path / "demo", "app:app") as server:
        url = f"http://127.0.0.1:{server.port}/"

        def open_page() -> Any:
            browser.open_page(url)
            return browser.session

        def wait(session: Any, expression: str) -> Any:
            browser.session = session
            return browser.evaluate(PAGE_WAIT.replace("EXPR", expression))

        joined = 'document.getElementById("status").textContent.endsWith(" in lobby")'
        ada, bob = open_page(), open_page()
        wait(ada, joined)
        wait(bob, joined)
        browser.session = ada
        browser.evaluate(
            'document.getElementById("text").value = "hello from Ada";'
            'document.getElementById("say").requestSubmit(); true'
        )
        lines = (
            'Array.from(document.querySelectorAll("#log li"), (li) => li.textContent)'
        )
        said = f'{lines}.some((line) => line.endsWith(": hello from Ada"))'
        assert wait(bob, said) is True
        assert wait(ada, said) is True
        assert "Traceback" not in server.log()


def test_new_writes_into_a_path(tmp_path: Path) -> None:
    result = wsocket_cli("new", str(tmp_path / "sub" / "chat"))
    assert result.returncode == 0, result.stderr
    app_source = (tmp_path / "sub" / "chat" / "app.py").read_text()
    assert app_source.startswith('"""chat: ')
    compile(app_source, "app.py", "exec")
