"""The documentation builds without a warning (broken references, pages
left out of the table of contents, autodoc of names that do not exist),
with every cross-reference resolved (``-n``), and documents every public
name."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import wsocket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML build of docs/, made once for the tests of this module."""
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("docs") / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-n",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            os.path.join(ROOT, "docs"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return out


@pytest.mark.timeout(300)
def test_sphinx_build_has_no_warnings(html: Path) -> None:
    assert (html / "index.html").exists()
    assert (html / "objects.inv").exists()


def public_modules() -> list[str]:
    """wsocket and its submodules whose path has no ``_`` part."""
    names = ["wsocket"] + [
        info.name for info in pkgutil.walk_packages(wsocket.__path__, "wsocket.")
    ]
    return [
        name
        for name in names
        if not any(part.startswith("_") for part in name.split("."))
    ]


def documented_paths(module_name: str, name: str) -> list[str]:
    """Every ``module.name`` path that names the same object.

    A class re-exported by the package (``wsocket.WebSocket``) is documented
    once, where it is defined (``wsocket.connection.WebSocket``); either path
    counts. Constants carry no ``__module__``, so the modules of the package
    that export the very same object count too.
    """
    obj = getattr(sys.modules[module_name], name)
    paths = [f"{module_name}.{name}"]
    home = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(home, str) and isinstance(qualname, str):
        paths.append(f"{home}.{qualname}")
    for other in public_modules():
        module = importlib.import_module(other)
        if name in getattr(module, "__all__", ()) and getattr(module, name) is obj:
            paths.append(f"{other}.{name}")
    return paths


@pytest.mark.timeout(300)
def test_every_public_name_has_an_entry(html: Path) -> None:
    inventory_module = pytest.importorskip("sphinx.util.inventory")
    with open(html / "objects.inv", "rb") as stream:
        inventory = inventory_module.InventoryFile.load(
            stream, "", lambda base, uri: uri
        )
    entries = {
        name
        for kind, objects in inventory.items()
        if kind.startswith("py:")
        for name in objects
    }
    missing = []
    modules = public_modules()
    assert "wsocket.realtime" in modules and "wsocket.deflate" in modules
    for module_name in modules:
        module = importlib.import_module(module_name)
        if module_name not in entries:
            missing.append(f"module {module_name}")
        for name in getattr(module, "__all__", ()):
            if not entries.intersection(documented_paths(module_name, name)):
                missing.append(f"{module_name}.{name}")
    assert not missing, (
        "public names without an entry in the documentation (add them to a "
        "page under docs/reference/): " + ", ".join(missing)
    )


def test_troubleshooting_covers_the_common_surprises() -> None:
    page = Path(ROOT, "docs", "howto", "troubleshooting.rst").read_text("utf-8")
    # Blocking handlers under gevent, Flask routes without websocket=True,
    # proxies that drop Upgrade, waitress.
    for heading in (
        "Every connection stalls while one handler works (gevent)",
        'A Flask WebSocket route closes at once with 1008 "400 BAD REQUEST"',
        "Behind a proxy, the handshake fails with 426 or 400",
        "Under waitress, every upgrade gets 501",
    ):
        assert f"\n{heading}\n{'-' * len(heading)}\n" in page, heading
    assert '@app.route("/echo", websocket=True)' in page
    assert "proxy_set_header Upgrade $http_upgrade;" in page
    # What the page quotes is what wsocket says.
    page = " ".join(page.split())
    assert "``gevent, not monkey-patched``" in page
    assert '"gevent, not monkey-patched: ' in Path(
        ROOT, "wsocket", "server.py"
    ).read_text("utf-8")
    assert "``WebSocket upgrade refused: waitress cannot serve WebSockets...``" in page
    assert '"WebSocket upgrade refused: waitress cannot serve WebSockets ' in Path(
        ROOT, "wsocket", "servers", "waitress.py"
    ).read_text("utf-8")
