"""Every public name the package promises exists.

``wsocket.__all__`` and each module's ``__all__`` are the public API: a name
listed there that does not exist breaks ``from wsocket import *`` and the
reference documentation.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import wsocket


def submodule_names() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(wsocket.__path__, prefix="wsocket."):
        # Private modules (the C speedup) have no public API to check.
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            names.append(info.name)
    return sorted(names)


SUBMODULES = submodule_names()


def import_or_skip(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # An optional third-party dependency (a server, redis) is missing.
        if exc.name and not exc.name.startswith("wsocket"):
            pytest.skip(f"{name} needs {exc.name}")
        raise


def test_submodules_found() -> None:
    for name in ("wsocket.frames", "wsocket.protocol", "wsocket.exceptions"):
        assert name in SUBMODULES


def test_package_all() -> None:
    assert len(set(wsocket.__all__)) == len(wsocket.__all__), "duplicate names"
    missing = [name for name in wsocket.__all__ if not hasattr(wsocket, name)]
    assert missing == []


def test_star_import() -> None:
    namespace: dict = {}
    exec("from wsocket import *", namespace)
    assert set(wsocket.__all__) <= set(namespace)


@pytest.mark.parametrize("name", SUBMODULES)
def test_module_all(name: str) -> None:
    module = import_or_skip(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    exported = list(module.__all__)
    assert len(set(exported)) == len(exported), "duplicate names"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == [], f"{name}.__all__ lists missing names"


def test_package_reexports_are_the_module_objects() -> None:
    # wsocket.X is the object its module defines, not a copy or a stale alias.
    for name in wsocket.__all__:
        value = getattr(wsocket, name)
        module_name = getattr(value, "__module__", None)
        if module_name and module_name.startswith("wsocket."):
            module = importlib.import_module(module_name)
            assert getattr(module, name, None) is value, name
