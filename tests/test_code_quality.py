"""The checks of ``tox -e typing,style`` run in the test suite too, so that a
plain ``pytest`` (what CI runs) fails on a type error or a style error.
They are in the ``docs`` lane (tests/conftest.py), out of the fast lane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=280
    )


@pytest.mark.timeout(300)
def test_mypy_strict_passes() -> None:
    pytest.importorskip("mypy")
    result = run(sys.executable, "-m", "mypy", "--strict", "wsocket")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert "Success: no issues found" in result.stdout


def ruff() -> str:
    """The ruff next to this interpreter (the test extra installs it)."""
    here = os.path.join(os.path.dirname(sys.executable), "ruff")
    found = here if os.path.exists(here) else shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed: pip install -e '.[test]'")
    return found


@pytest.mark.timeout(120)
def test_ruff_check_passes() -> None:
    result = run(ruff(), "check", ".")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]


@pytest.mark.timeout(120)
def test_ruff_format_check_passes() -> None:
    result = run(ruff(), "format", "--check", ".")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
