"""The sans-I/O core imports no I/O or concurrency module.

wsocket.frames, protocol, deflate, handshake, headers and http11 turn bytes into
events and back; whether the bytes travel over blocking sockets, gevent or an
event loop is the caller's business. Each check runs in a fresh interpreter,
where ``sys.modules`` shows exactly what an import pulled in.

``threading`` is not on the list: :mod:`logging` imports it, and the protocol
logs frames through :mod:`logging`. :func:`test_logging_imports_threading`
keeps that premise checked, so threading goes back on the list if the
standard library ever stops importing it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE_MODULES = [
    "wsocket.frames",
    "wsocket.protocol",
    "wsocket.deflate",
    "wsocket.handshake",
    "wsocket.headers",
    "wsocket.http11",
]

FORBIDDEN = [
    "socket",
    "select",
    "selectors",
    "ssl",
    "gevent",
    "asyncio",
    # "threading" is imported by logging; see the module docstring.
]


def modules_after_import(modules: list[str], *, bypass_package: bool) -> list[str]:
    """Import ``modules`` in a fresh interpreter; return the forbidden ones loaded.

    With ``bypass_package``, ``wsocket/__init__.py`` is not run: an empty
    package module stands in for it, so that only the modules' own imports
    count.
    """
    code = textwrap.dedent(
        f"""
        import importlib, json, sys, types
        if {bypass_package!r}:
            package = types.ModuleType("wsocket")
            package.__path__ = [{str(ROOT / "wsocket")!r}]
            sys.modules["wsocket"] = package
        for name in {modules!r}:
            importlib.import_module(name)
        print(json.dumps(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_io(module: str) -> None:
    assert modules_after_import([module], bypass_package=True) == []


def test_importing_the_core_imports_no_io() -> None:
    # What a user of the core gets with a plain import: this also runs
    # wsocket/__init__.py, which must not pull in the I/O layer eagerly.
    assert modules_after_import(CORE_MODULES, bypass_package=False) == []


def test_the_check_sees_io_imports() -> None:
    # The checks above are only meaningful if an I/O import is detected:
    # wsocket.client connects sockets, over TLS when asked.
    loaded = modules_after_import(["wsocket.client"], bypass_package=True)
    assert "socket" in loaded
    assert "ssl" in loaded


def test_logging_imports_threading() -> None:
    code = "import sys, logging; print('threading' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "True", (
        "logging no longer imports threading: add threading to FORBIDDEN"
    )
