"""docs/howto/quickstart.rst does what it says.

Every code block of the page is taken from the page itself and run: the
server command (with the ``--port`` option the page documents, on a free
port instead of 8080), the Python client (with the port of that server in
its URL), the example file it includes. A block added to the page without a
check here fails :func:`test_every_block_is_checked`.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from integration.harness import ROOT, ServerProcess, free_port

PAGE = Path(ROOT) / "docs" / "howto" / "quickstart.rst"
DOC_PORT = "8080"

#: (kind, first line, body) of each block: kind is the language of a
#: ``code-block``, ``literal`` for a ``::`` block, ``include`` for a
#: ``literalinclude`` (its body is the directive's options).
Block = Tuple[str, str, str]


def blocks() -> List[Block]:
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    found: List[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        code = re.match(r"\.\. code-block:: (\S+)", line)
        include = re.match(r"\.\. literalinclude:: (\S+)", line)
        if code or include or (line.endswith("::") and not line.startswith("..")):
            start = i + 1
            if include:
                kind, head = "include", include.group(1)
            elif code:
                kind, head = code.group(1), line
            else:
                kind, head = "literal", line
            i += 1
            body = []
            while i < len(lines) and (lines[i] == "" or lines[i].startswith(" ")):
                body.append(lines[i])
                i += 1
            text = "\n".join(body).strip("\n")
            indent = min(len(x) - len(x.lstrip()) for x in body if x.strip())
            text = "\n".join(x[indent:] for x in text.splitlines())
            assert text, f"empty block after line {start} of {PAGE}"
            found.append((kind, head, text))
            continue
        i += 1
    return found


def block(kind: str) -> Block:
    matching = [b for b in blocks() if b[0] == kind]
    assert len(matching) == 1, f"expected one {kind} block in {PAGE}: {matching}"
    return matching[0]


def test_every_block_is_checked() -> None:
    # The kinds the tests below run; a new block needs a new check.
    assert sorted(b[0] for b in blocks()) == [
        "console",
        "include",
        "literal",
        "python",
    ]


def server_command(port: int) -> Tuple[List[str], str]:
    """The page's command to start the server, and the line it prints."""
    _, _, text = block("console")
    command, *output = text.splitlines()
    assert command.startswith("$ python "), command
    argv = shlex.split(command[2:])
    # The page: "--port picks another port".
    argv = [sys.executable, *argv[1:], "--port", str(port)]
    assert len(output) == 1, output
    assert output[0].count(f":{DOC_PORT}/") == 1, output[0]
    return argv, output[0].replace(f":{DOC_PORT}/", f":{port}/")


@pytest.fixture
def server():
    port = free_port()
    argv, banner = server_command(port)
    with ServerProcess(argv, port) as proc:
        proc.banner = banner  # type: ignore[attr-defined]
        yield proc


@pytest.mark.timeout(60)
def test_the_server_starts_as_shown(server) -> None:
    from helpers import wait_for

    wait_for(lambda: server.banner in server.log(), 10, message=server.log())


def test_the_included_code_is_the_example_that_runs() -> None:
    _, path, options = block("include")
    assert path == "../../examples/echo.py"
    assert options == ":pyobject: echo_app"
    _, _, console = block("console")
    assert console.startswith("$ python examples/echo.py\n")


@pytest.mark.timeout(60)
def test_the_page_is_served(server) -> None:
    import urllib.request

    url = f"http://127.0.0.1:{server.port}/"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        page = response.read().decode()
    # "The page opens a WebSocket to /echo ... prefixed with <".
    assert '"/echo"' in page
    assert 'log("< " + event.data)' in page


@pytest.mark.timeout(60)
def test_the_python_client_prints_what_the_page_says(server, tmp_path) -> None:
    _, _, code = block("python")
    assert code.count(f"127.0.0.1:{DOC_PORT}") == 1
    script = tmp_path / "client.py"
    script.write_text(code.replace(f":{DOC_PORT}/", f":{server.port}/"))
    text = PAGE.read_text(encoding="utf-8")
    assert "It prints ``Hello, WebSocket``, then ``closed with 1000``" in text
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello, WebSocket\nclosed with 1000\n"


@pytest.mark.timeout(60)
def test_ctrl_c_closes_open_websockets_with_1001(server) -> None:
    # "Stop the server with Ctrl-C and the page shows closed 1001".
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=10) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "ping"
        server.signal(signal.SIGINT)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 1001
    assert server.wait(10) is not None


@pytest.mark.timeout(600)
def test_the_install_block_installs_wsocket_and_gevent(tmp_path) -> None:
    # "From a checkout of the repository": a copy of this one, so that the
    # new .venv lands in the copy.
    _, head, text = block("literal")
    assert head == "From a checkout of the repository::"
    checkout = tmp_path / "wsocket"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = Path(ROOT) / os.fsdecode(name)
        if source.is_file():
            target = checkout / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    check = 'python -c "import gevent, wsocket; print(wsocket.__file__)"'
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    result = subprocess.run(
        ["bash", "-euc", f"{text}\n{check}"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=560,
        env=env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    installed = Path(result.stdout.strip().splitlines()[-1])
    assert installed == checkout / "wsocket" / "__init__.py"
