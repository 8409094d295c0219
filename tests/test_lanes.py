"""The test lanes: markers given by path and name, soak only when asked for,
hypothesis profiles by lane, and one test file per module of the package.

A small suite is laid out in a temporary folder with this suite's
``conftest.py`` and markers, and run by pytest in a subprocess: those tests
are in the integration lane themselves.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

SUITE = {
    "integration/__init__.py": "",
    "integration/test_server.py": "def test_server():\n    pass\n",
    "test_browser.py": "def test_page():\n    pass\n",
    "test_docs.py": "def test_build():\n    pass\n",
    "test_examples.py": "def test_example():\n    pass\n",
    "test_unit.py": (
        "import pytest\n\n"
        "def test_fast():\n    pass\n\n"
        "def test_against_a_server_subprocess():\n    pass\n\n"
        "@pytest.mark.redis\n"
        "def test_needs_redis():\n    pass\n\n"
        "@pytest.mark.soak\n"
        "def test_long_run():\n    pass\n"
    ),
}


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    options = config["tool:pytest"]
    markers = options["markers"].strip().splitlines()
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\naddopts = {options['addopts']}\nfilterwarnings = error\n"
        "markers =\n" + "".join(f"    {line}\n" for line in markers)
    )
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    for name, text in SUITE.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def outcomes(folder: Path, *args: str) -> dict[str, str]:
    """Each test's outcome: ``passed``, ``skipped: reason``; deselected ones absent."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        # Only the lanes are under test: no third-party plugin is needed.
        env=dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"),
    )
    assert result.returncode in (0, 5), result.stdout + result.stderr
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith("PASSED "):
            found[line.split()[1].split("::")[-1]] = "passed"
        elif line.startswith("SKIPPED "):
            # SKIPPED [1] test_unit.py:13: the reason
            where, reason = line.split(" ", 2)[2].split(": ", 1)
            found[where.split(":")[0]] = "skipped: " + reason
    return found


@pytest.mark.integration  # pytest in a subprocess
def test_plain_pytest_runs_all_but_soak(suite: Path) -> None:
    found = outcomes(suite)
    passed = sorted(name for name, outcome in found.items() if outcome == "passed")
    assert passed == [
        "test_against_a_server_subprocess",
        "test_build",
        "test_example",
        "test_fast",
        "test_needs_redis",
        "test_page",
        "test_server",
    ]
    assert "test_long_run" not in found and "test_unit.py" not in found


@pytest.mark.integration  # pytest in a subprocess
def test_fast_lane(suite: Path) -> None:
    found = outcomes(
        suite, "-m", "not integration and not browser and not docs and not redis"
    )
    assert found.get("test_fast") == "passed"
    assert "test_server" not in found
    assert "test_example" not in found
    assert "test_against_a_server_subprocess" not in found
    assert "test_page" not in found
    assert "test_build" not in found
    assert "test_needs_redis" not in found
    # The expression replaces the one that leaves soak out: soak is still
    # not run.
    assert found["test_unit.py"].startswith("skipped: a soak test")


@pytest.mark.integration  # pytest in a subprocess
@pytest.mark.parametrize(
    "marker,expected",
    [
        (
            "integration",
            ["test_against_a_server_subprocess", "test_example", "test_server"],
        ),
        ("browser", ["test_page"]),
        ("docs", ["test_build"]),
        ("redis", ["test_needs_redis"]),
        ("soak", ["test_long_run"]),
    ],
)
def test_each_lane(suite: Path, marker: str, expected: list[str]) -> None:
    found = outcomes(suite, "-m", marker)
    assert sorted(found) == expected
    assert set(found.values()) == {"passed"}


PROFILE_TEST = """
import pytest
from hypothesis import settings

def test_profile():
    name = settings.get_current_profile_name()
    pytest.skip(f"{name} {settings.default.max_examples}")
"""


@pytest.mark.integration  # pytest in a subprocess
@pytest.mark.parametrize(
    "args,profile",
    [
        ((), "full 100"),
        (
            ("-m", "not integration and not browser and not docs and not redis"),
            "fast 20",
        ),
        (("-m", "not browser"), "full 100"),
        (
            ("-m", "not docs", "-p", "hypothesispytest", "--hypothesis-profile=fast"),
            "fast 20",
        ),
        (
            (
                "-m",
                "not integration",
                "-p",
                "hypothesispytest",
                "--hypothesis-profile=full",
            ),
            "full 100",
        ),
    ],
)
def test_the_fast_lane_runs_fewer_hypothesis_examples(
    suite: Path, args: tuple[str, ...], profile: str
) -> None:
    (suite / "test_profile.py").write_text(PROFILE_TEST)
    found = outcomes(suite, *args, "test_profile.py")
    assert found == {"test_profile.py": f"skipped: {profile}"}


# -- tests/ mirrors wsocket/ ----------------------------------------------------

#: Modules whose tests live under another name, and why.
TESTED_ELSEWHERE = {
    # The package's public surface: its exports against the submodules'.
    "wsocket/__init__.py": "test_exports.py",
    # ``python -m wsocket`` is the ``wsocket`` command.
    "wsocket/__main__.py": "test_cli.py",
}


def expected_test_file(module: str) -> str:
    """The test file named after a module of the package (see CONTRIBUTING)."""
    if module in TESTED_ELSEWHERE:
        return TESTED_ELSEWHERE[module]
    parts = Path(module).with_suffix("").parts[1:]  # without "wsocket"
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return "test_" + "_".join(parts) + ".py"


def test_test_files_are_named_as_the_contributing_page_says() -> None:
    assert expected_test_file("wsocket/frames.py") == "test_frames.py"
    assert expected_test_file("wsocket/realtime/events.py") == "test_realtime_events.py"
    assert expected_test_file("wsocket/servers/__init__.py") == "test_servers.py"
    assert expected_test_file("wsocket/servers/gevent.py") == "test_servers_gevent.py"
    page = (ROOT / "docs" / "project" / "contributing.rst").read_text()
    for example in (
        "test_frames.py",
        "test_realtime_events.py",
        "test_servers_gevent.py",
    ):
        assert f"tests/{example}" in page


def test_every_module_has_its_test_file() -> None:
    modules = sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "wsocket").rglob("*.py")
    )
    assert "wsocket/frames.py" in modules and "wsocket/realtime/events.py" in modules
    missing = [
        f"{module}: tests/{expected_test_file(module)}"
        for module in modules
        if not (TESTS / expected_test_file(module)).is_file()
        and not (TESTS / "integration" / expected_test_file(module)).is_file()
    ]
    assert not missing, "modules without a test file of their own:\n" + "\n".join(
        missing
    )
