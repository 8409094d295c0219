"""The artifacts a user installs: the sdist and the wheels built from it.

The end-to-end test builds the sdist, builds from it a pure-Python wheel
(``WSOCKET_BUILD_EXTENSION=0``) and one with the C accelerator, checks both
with ``twine check``, installs each into a fresh virtual environment, and
there runs a smoke test, ``wsocket new demo``, the generated project's tests,
and ``wsocket run``. It takes a minute or two: it is in the ``integration``
lane. pip's cache is shared with the calling environment, so no package is
downloaded twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import venv
from pathlib import Path
from typing import Dict, List

import pytest
from helpers import MS, wait_for
from integration.harness import ServerProcess, free_port

import wsocket

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

#: The folders the sdist must hold in full, for `pytest` and the docs build.
SHIPPED = ("tests", "docs", "examples", "benchmarks", "fuzz", "wsocket")


def run(
    argv: List[str], *, cwd: Path, env: Dict[str, str], timeout: float = 600
) -> str:
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, (
        f"{argv} exited with {result.returncode}\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    return result.stdout


def clean_env(**extra: str) -> Dict[str, str]:
    """The environment without what would import this checkout instead."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "CI", "PYTHONHOME")
    }
    env.update(extra)
    return env


def git_files(folder: str) -> List[str]:
    result = subprocess.run(
        ["git", "ls-files", folder],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        return []
    return [
        line
        for line in result.stdout.splitlines()
        if (ROOT / line).exists() and not line.endswith((".so", ".pyc"))
    ]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("sdist")
    run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)],
        cwd=ROOT,
        env=clean_env(),
    )
    (archive,) = out.glob("wsocket-*.tar.gz")
    return archive


def test_sdist_holds_tests_docs_examples_and_more(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    top = f"wsocket-{wsocket.__version__}"
    inside = {name[len(top) + 1 :] for name in names if name.startswith(top + "/")}
    for required in (
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "MANIFEST.in",
        "setup.py",
        "setup.cfg",
        "pyproject.toml",
        "tox.ini",
        "tests/helpers.py",
        "tests/conftest.py",
        "tests/integration/harness.py",
        "docs/conf.py",
        "docs/index.rst",
        "examples/echo.py",
        "wsocket/_speedups.c",
        "wsocket/templates/new/app.py.tmpl",
    ):
        assert required in inside, f"{required} is missing from the sdist"
    tracked = [name for folder in SHIPPED for name in git_files(folder)]
    if not tracked:
        pytest.skip("not a git checkout: cannot compare with the tracked files")
    missing = sorted(set(tracked) - inside)
    assert missing == [], f"tracked files missing from the sdist: {missing}"
    assert not [name for name in inside if name.endswith((".so", ".pyc"))]


def unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)
    (folder,) = into.glob("wsocket-*")
    return folder


def make_venv(folder: Path, wheel: Path) -> Path:
    """A fresh virtual environment with the wheel and the tools the tests use."""
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    python = folder / "bin" / "python"
    run(
        [
            str(python), "-m", "pip", "install", "--quiet", str(wheel),
            "pytest", "pytest-timeout", "hypothesis", "websockets", "wsproto",
        ],
        cwd=folder,
        env=clean_env(),
    )  # fmt: skip
    return python


@pytest.mark.parametrize("accelerated", [False, True], ids=["pure-python", "c"])
def test_wheel_installs_and_serves_a_new_project(
    sdist: Path, tmp_path: Path, accelerated: bool
) -> None:
    if accelerated and not shutil.which(os.environ.get("CC", "cc")):
        pytest.skip("no C compiler to build the accelerator")
    source = unpack(sdist, tmp_path / "src")
    dist = tmp_path / "dist"
    # The wheel is built from the unpacked sdist: the sdist is enough.
    run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        cwd=source,
        env=clean_env(WSOCKET_BUILD_EXTENSION="1" if accelerated else "0"),
    )
    (wheel,) = dist.glob("wsocket-*.whl")
    if accelerated:
        assert "-cp3" in wheel.name and "linux" in wheel.name, wheel.name
    else:
        assert wheel.name.endswith("-py3-none-any.whl"), wheel.name

    twine = pytest.importorskip("twine")
    assert twine
    out = run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        cwd=tmp_path,
        env=clean_env(),
    )
    assert out.count("PASSED") == 2, out

    python = make_venv(tmp_path / "venv", wheel)
    script = python.parent / "wsocket"
    env = clean_env()

    # Smoke test: the installed package, not this checkout.
    smoke = run(
        [
            str(python),
            "-c",
            "import json, wsocket, wsocket.speedups as s; print(json.dumps("
            "[wsocket.__file__, wsocket.__version__, s.ACCELERATED]))",
        ],
        cwd=tmp_path,
        env=env,
    )
    location, version, flag = json.loads(smoke)
    assert location.startswith(str(tmp_path / "venv"))
    assert version == wsocket.__version__
    assert flag is accelerated
    shown = run([str(script), "version"], cwd=tmp_path, env=env)
    assert (
        "masking: C accelerator (wsocket._speedups)"
        if accelerated
        else "masking: pure Python (the C accelerator is not built)"
    ) in shown

    # Some of wsocket's own tests, from the unpacked sdist, on the wheel.
    out = run(
        [
            str(python.parent / "pytest"), "-q", "-p", "no:cacheprovider",
            "tests/test_frames.py", "tests/test_utils.py",
        ],
        cwd=source,
        env=env,
    )  # fmt: skip
    assert " passed" in out and "failed" not in out

    # The README's path: a new project, its tests, and serving it.
    run([str(script), "new", "demo"], cwd=tmp_path, env=env)
    project = tmp_path / "demo"
    out = run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
    )
    assert "5 passed" in out
    port = free_port()
    server = ServerProcess(
        [str(script), "run", "app:app", "--port", str(port)], port, cwd=str(project)
    )
    server.env = env
    with server:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert 'new WSocketClient("/ws")' in r.read().decode()
        with wsocket.connect(f"ws://127.0.0.1:{port}/echo") as ws:
            ws.send("hello")
            assert ws.receive(timeout=10) == "hello"
        assert wait_for(lambda: '"GET /echo" 101' in server.log(), 5000 * MS)
        log = server.log()
    assert str(tmp_path / "venv") in " ".join(server.argv)
    assert "Traceback" not in log, log


#: The fast lane, as docs/project/contributing.rst gives it.
FAST_LANE = "not integration and not browser and not docs and not redis"


@pytest.mark.timeout(1800)
def test_fast_lane_passes_from_the_unpacked_sdist(sdist: Path, tmp_path: Path) -> None:
    """The sdist is enough to test wsocket: install it, run pytest in it."""
    source = unpack(sdist, tmp_path / "src")
    folder = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    python = folder / "bin" / "python"
    env = clean_env()
    run(
        [str(python), "-m", "pip", "install", "--quiet", f"{sdist}[test]"],
        cwd=tmp_path,
        env=env,
        timeout=1200,
    )
    # `pytest`, not `python -m pytest`: the tests import the installed
    # package, not the unpacked source next to them.
    result = subprocess.run(
        [
            str(folder / "bin" / "pytest"), "-q", "-p", "no:cacheprovider",
            "-m", FAST_LANE,
        ],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in summary and "failed" not in summary, summary
    assert "error" not in summary, summary


def test_cibuildwheel_builds_manylinux_and_musllinux() -> None:
    if shutil.which("cibuildwheel", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("cibuildwheel is not installed (Python 3.11+)")
    out = run(
        [
            os.path.join(os.path.dirname(sys.executable), "cibuildwheel"),
            "--print-build-identifiers",
            "--platform",
            "linux",
        ],
        cwd=ROOT,
        env=clean_env(),
        timeout=120,
    )
    identifiers = set(out.split())
    for python in ("cp39", "cp310", "cp311", "cp312", "cp313"):
        for platform in ("manylinux", "musllinux"):
            for arch in ("x86_64", "aarch64"):
                assert f"{python}-{platform}_{arch}" in identifiers
