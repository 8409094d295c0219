"""Sphinx configuration for the wsocket documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html``. No extension
needs the network: intersphinx is deliberately not used.
"""

from __future__ import annotations

import os
import sys

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
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Keep signatures readable: show type hints in the description, in source order.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
# Two classes are named Request (the framework's and the HTTP/1.1 parser's);
# the type fields autodoc writes for the real-time layer name it briefly,
# which resolves to the framework's but warns that it is ambiguous.
suppress_warnings = ["ref.python"]

exclude_patterns = ["_build"]
nitpicky = False

html_theme = "alabaster"
html_title = f"wsocket {release}"
