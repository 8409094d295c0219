"""Sphinx configuration for the wsocket documentation.

Build with ``sphinx-build -n -W -b html docs docs/_build/html``: every
cross-reference must resolve. References to Python's standard library go
through intersphinx; the build reads Python's inventory from a local copy
when one is installed (Debian's ``python3-doc`` package), so that it needs no
network, and from docs.python.org otherwise.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from docutils.nodes import Element
    from sphinx.addnodes import pending_xref
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

from sphinx.ext.intersphinx import resolve_reference_any_inventory  # noqa: E402

# Document the source tree this file belongs to, installed or not.
sys.path.insert(0, os.path.abspath(".."))

import wsocket  # noqa: E402

project = "wsocket"
author = "wsocket developers"
copyright = "2026, wsocket developers"
release = wsocket.__version__
version = ".".join(release.split(".")[:2])

# napoleon ships with Sphinx; it reads the Google-style docstrings
# (Args/Returns/Raises/Attributes) that the code base uses.
extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.napoleon"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Keep signatures readable: show type hints in the description, in source order.
autodoc_typehints = "description"
autodoc_member_order = "bysource"

# Type aliases as the annotations spell them (every module uses
# ``from __future__ import annotations``) -> the documented name they stand for.
autodoc_type_aliases = {
    "Origins": "wsocket.handshake.Origins",
    "Compression": "wsocket.client.Compression",
}

# Private aliases of standard types that signatures use, and the entry of
# Python's documentation each stands for (the standard library documents
# its WSGI types as data, annotations name them as classes).
_STANDARD_ALIASES = {
    "WSGIEnvironment": ("data", "wsgiref.types.WSGIEnvironment"),
    "StartResponse": ("class", "wsgiref.types.StartResponse"),
    "WSGIApp": ("data", "wsgiref.types.WSGIApplication"),
    "Handler": ("class", "collections.abc.Callable"),
}

exclude_patterns = ["_build"]
nitpicky = True

# Python's own inventory: a local file when the system ships one (Debian and
# Ubuntu: apt-get install python3-doc), else the one on docs.python.org.
_LOCAL_PYTHON_INVENTORIES = (
    "/usr/share/doc/python3/html/objects.inv",
    "/usr/share/doc/python3-doc/html/objects.inv",
)
_python_inventory = next(
    (path for path in _LOCAL_PYTHON_INVENTORIES if os.path.exists(path)), None
)
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", _python_inventory),
}

# Names of optional third-party servers and libraries that the pages mention
# with a cross-reference. Their projects publish documentation, but not on a
# site this build may reach offline, so a link cannot be checked here; they
# stay plain text rather than being guessed at.
nitpick_ignore = [
    # gevent: the server wsocket adapts to (docs/deployment/gevent.rst).
    ("py:class", "gevent.pywsgi.WSGIServer"),
    ("py:class", "gevent.pywsgi.WSGIHandler"),
    ("py:class", "gevent.server.StreamServer"),
    # eventlet and werkzeug: the servers of their deployment pages.
    ("py:func", "eventlet.wsgi.server"),
    ("py:func", "werkzeug.serving.run_simple"),
    ("py:mod", "gevent.pywsgi"),
]

html_theme = "alabaster"
html_title = f"wsocket {release}"


def _same_object_paths(module_name: str, name: str) -> list[str]:
    """Other module paths under which ``module_name.name`` is importable.

    The module that defines it (``__module__``, for classes and functions),
    the package modules above it that re-export it, and the submodules below
    it whose ``__all__`` lists the same object (for constants, which carry no
    ``__module__``).
    """
    module = sys.modules[module_name]
    obj = getattr(module, name)
    paths = []
    home = getattr(obj, "__module__", None)
    if isinstance(home, str) and home.startswith("wsocket"):
        paths.append(home)
    parts = module_name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        paths.append(".".join(parts[:end]))
    prefix = module_name + "."
    paths.extend(sorted(m for m in list(sys.modules) if m.startswith(prefix)))
    return [
        path
        for path in dict.fromkeys(paths)
        if path != module_name
        and getattr(sys.modules.get(path), name, None) is obj
        and (path == home or name in getattr(sys.modules[path], "__all__", ()))
    ]


def _resolve_reexport(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element
) -> Element | None:
    """Resolve a reference to a re-exported name where that name is documented.

    ``wsocket.WebSocket`` is documented where it is defined, as
    ``wsocket.connection.WebSocket``; the package re-exports it (and others,
    see ``wsocket.__all__``). A reference written with another path than the
    documented one, such as ``:class:`wsocket.WebSocket``` or
    ``:attr:`wsocket.WebSocket.closed```, is resolved here by asking Python
    which other paths name the same object.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target in _STANDARD_ALIASES:
        standard = node.deepcopy()
        standard["reftype"], standard["reftarget"] = _STANDARD_ALIASES[target]
        return resolve_reference_any_inventory(env, True, standard, contnode)
    if target.split(".")[-1].startswith("_"):
        # A private name in a signature (a type variable such as ``_V``, a
        # private class): it has no entry by design. Show it as text.
        return contnode
    context = node.get("py:module")
    if not target.startswith("wsocket.") and context:
        # An unqualified name in an annotation or docstring, inside a module.
        target = f"{context}.{target}"
    if not target.startswith("wsocket."):
        return None
    parts = target.split(".")
    # The longest prefix that names a module; the next part is the name in it.
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        break
    else:
        return None
    if not hasattr(module, parts[split]):
        return None
    if isinstance(getattr(module, parts[split]), TypeVar):
        # A type variable in a signature (``H`` of a decorator) has nothing
        # to link to: its bound is in the text. Show the name as it is.
        return contnode
    domain = env.get_domain("py")
    for path in _same_object_paths(module_name, parts[split]):
        new_target = ".".join([path, *parts[split:]])
        resolved = domain.resolve_xref(
            env,
            node["refdoc"],
            app.builder,
            node["reftype"],
            new_target,
            node,
            contnode,
        )
        if resolved is not None:
            return resolved
    return None


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("missing-reference", _resolve_reexport)
    return {"parallel_read_safe": True}
