"""Build script for the optional C extension; metadata lives in setup.cfg.

The environment variable ``WSOCKET_BUILD_EXTENSION`` decides what happens to
``wsocket._speedups``:

- unset or empty: try to build it; if that fails (no compiler, no Python
  headers...), print a warning and install the pure-Python package anyway;
- ``1``, ``yes`` or ``true``: build it and fail the installation if it cannot;
- ``0``, ``no`` or ``false``: do not build it.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SPEEDUPS = Extension("wsocket._speedups", sources=["wsocket/_speedups.c"])

_REQUIRED = {"1", "yes", "true", "on"}
_SKIPPED = {"0", "no", "false", "off"}


def _build_mode() -> str:
    """Return "required", "skipped" or "optional" from the environment."""
    value = os.environ.get("WSOCKET_BUILD_EXTENSION", "").strip().lower()
    if value in _REQUIRED:
        return "required"
    if value in _SKIPPED:
        return "skipped"
    if value == "":
        return "optional"
    sys.exit(
        f"WSOCKET_BUILD_EXTENSION={value!r} is not understood: "
        "use 1/yes to require the C extension, 0/no to skip it, "
        "or leave it unset to build it when possible"
    )


def _warn(message: str) -> None:
    # pip shows stderr of a failed build only; a banner makes the warning
    # easy to spot in verbose logs too.
    line = "*" * 75
    print(f"\n{line}\nWARNING: {message}\n{line}\n", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """``build_ext`` that turns any failure into a warning.

    ``Extension(optional=True)`` already tolerates compiler errors, but not a
    missing or broken compiler detected before compiling starts; this covers
    both.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._give_up(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc)

    @staticmethod
    def _give_up(exc: BaseException) -> None:
        _warn(
            f"the C extension wsocket._speedups could not be built ({exc}). "
            "wsocket will work, using pure-Python masking, which is slower. "
            "Set WSOCKET_BUILD_EXTENSION=1 to make this an error."
        )


def _setup_kwargs() -> dict[str, Any]:
    mode = _build_mode()
    if mode == "skipped":
        return {}
    if mode == "required":
        SPEEDUPS.optional = False
        return {"ext_modules": [SPEEDUPS]}
    if platform.python_implementation() != "CPython":
        # The extension uses the CPython C API directly.
        return {}
    SPEEDUPS.optional = True
    return {"ext_modules": [SPEEDUPS], "cmdclass": {"build_ext": OptionalBuildExt}}


setup(**_setup_kwargs())
