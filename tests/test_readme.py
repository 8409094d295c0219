"""README.md: install line first, links that work off GitHub, and the usage
examples do what the README says (run as written, on a free port instead of
8080)."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import List, Tuple

import pytest
from integration.harness import ROOT, ServerProcess, free_port

README = Path(ROOT) / "README.md"
REPOSITORY = "https://github.com/Ksengine/wsocket/"
DOC_PORT = "8080"


def code_blocks() -> List[Tuple[str, str]]:
    """(language, code) of each fenced block, in order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S)


def test_the_install_line_comes_first() -> None:
    assert code_blocks()[0] == ("sh", "pip install wsocket\n")


def test_links_are_absolute_and_point_into_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert links, "no links found"
    for link in links:
        assert link.startswith(REPOSITORY), link
        # blob/master/<file> or tree/master/<folder> of this checkout.
        kind, branch, path = link[len(REPOSITORY) :].split("/", 2)
        assert (kind, branch) in (("blob", "master"), ("tree", "master")), link
        target = Path(ROOT) / path
        assert target.is_file() if kind == "blob" else target.is_dir(), link


def test_setup_cfg_names_the_same_repository() -> None:
    setup_cfg = (Path(ROOT) / "setup.cfg").read_text(encoding="utf-8")
    assert f"url = {REPOSITORY.rstrip('/')}\n" in setup_cfg


@pytest.mark.timeout(120)
def test_usage_server_and_client(tmp_path: Path) -> None:
    python = [code for language, code in code_blocks() if language == "python"]
    assert len(python) == 2, python
    server_code, client_code = python
    port = str(free_port())
    assert server_code.count(f'"127.0.0.1", {DOC_PORT})') == 1
    assert client_code.count(f"127.0.0.1:{DOC_PORT}/") == 1
    server_code = server_code.replace(f", {DOC_PORT})", f", {port})")
    client_code = client_code.replace(f":{DOC_PORT}/", f":{port}/")
    assert port in server_code and port in client_code
    (tmp_path / "server.py").write_text(server_code)
    (tmp_path / "client.py").write_text(client_code)
    argv = [sys.executable, str(tmp_path / "server.py")]
    with ServerProcess(argv, int(port)):
        # Plain HTTP gets the text; the client's message comes back.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.read() == b"Hello, HTTP\n"
        result = subprocess.run(
            [sys.executable, str(tmp_path / "client.py")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "hi\n"
