"""Lanes of the test suite.

Markers name what a test needs, so that a contributor can leave the slow
lanes out (setup.cfg registers them; CONTRIBUTING in docs/project says
which command runs which lane)::

    pytest -m "not integration and not browser and not docs and not redis"

``integration``, ``browser`` and ``docs`` are given here by path (and
``integration`` by a test's name), so that test files need not repeat
them. ``soak`` tests (long runs under load) are skipped unless the marker
expression asks for them (``pytest -m soak``); plain ``pytest`` runs
everything else.

The ``receive_path`` fixture runs a test once on each implementation of the
receive path's common case, :func:`wsocket.frames.scan_messages`: the C twin
(skipped when the extension was not built, except under CI) and the
pure-Python :func:`wsocket.frames.python_scan_messages`. The protocol suites
use it through ``pytestmark``.

Property tests run hypothesis's full example counts in a plain ``pytest``
run, and a fifth of them when the marker expression leaves the
``integration`` lane out (the fast lane): the ``fast`` hypothesis profile.
``--hypothesis-profile=full`` (or ``fast``) chooses one explicitly. Tests
that set their own count write it as ``max_examples=example_count(1000)``
(``helpers.example_count``), so that it follows the profile.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import settings

TESTS = Path(__file__).resolve().parent

#: Marker -> test paths (relative to tests/) that carry it.
BY_PATH = {
    # Real servers in subprocesses: the example apps under each server,
    # closing under pressure.
    "integration": ("integration/", "test_examples.py", "test_closing.py"),
    "browser": ("test_browser.py",),
    "docs": (
        "test_docs.py",
        "test_quickstart.py",
        "test_readme.py",
        "test_code_quality.py",
    ),
}

#: Marker -> words in a test's name that give it: a test that runs a server
#: of another project in a subprocess says so in its name.
BY_NAME = {
    "integration": ("subprocess",),
}

_ASKS_FOR_SOAK = re.compile(r"(?<!not )\bsoak\b")
_LEAVES_OUT_INTEGRATION = re.compile(r"\bnot\s+integration\b")

#: Hypothesis profiles: the full example counts, and a fifth of them.
FULL_EXAMPLES = 100
FAST_EXAMPLES = 20
settings.register_profile("full", max_examples=FULL_EXAMPLES)
settings.register_profile("fast", max_examples=FAST_EXAMPLES)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("hypothesis_profile", None):
        return  # chosen on the command line
    fast = _LEAVES_OUT_INTEGRATION.search(config.option.markexpr or "")
    settings.load_profile("fast" if fast else "full")


def lanes_of(path: Path) -> list[str]:
    """The markers a test file gets from where it lives."""
    try:
        relative = path.resolve().relative_to(TESTS).as_posix()
    except ValueError:  # collected from outside tests/
        return []
    return [
        marker
        for marker, prefixes in BY_PATH.items()
        if any(relative.startswith(prefix) for prefix in prefixes)
    ]


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    run_soak = bool(_ASKS_FOR_SOAK.search(config.option.markexpr or ""))
    skip_soak = pytest.mark.skip(reason="a soak test: run it with pytest -m soak")
    for item in items:
        for marker in lanes_of(Path(str(item.fspath))):
            item.add_marker(marker)
        name = getattr(item, "originalname", item.name)
        for marker, words in BY_NAME.items():
            if any(word in name for word in words):
                item.add_marker(marker)
        if not run_soak and item.get_closest_marker("soak") is not None:
            item.add_marker(skip_soak)


@pytest.fixture(params=["compiled", "python"])
def receive_path(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Which ``scan_messages`` the protocol uses during the test."""
    # Imported here, so that collecting the other lanes imports no wsocket.
    import wsocket.protocol
    from wsocket import frames

    if request.param == "python":
        monkeypatch.setattr(
            wsocket.protocol, "scan_messages", frames.python_scan_messages
        )
    elif frames.scan_messages is frames.python_scan_messages:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("wsocket._speedups is not built: CI must build it")
        pytest.skip("wsocket._speedups is not built")
    else:
        assert wsocket.protocol.scan_messages is frames.scan_messages
    return str(request.param)
