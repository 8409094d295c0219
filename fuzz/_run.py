"""Run a harness under atheris: ``python fuzz/fuzz_X.py [libFuzzer options]``.

Each harness module defines ``test_one_input(data: bytes)`` and calls
:func:`main` when run as a script. The test suite imports the same function
to replay the corpus, without atheris.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys


def main(name: str) -> None:
    """Fuzz ``fuzz_NAME.test_one_input``; by default, grow ``corpus/NAME``."""
    import atheris

    logging.disable(logging.CRITICAL)  # refusals are logged: not while fuzzing
    # Import wsocket and the harness again, this time with coverage
    # instrumentation of wsocket's code only.
    for module in list(sys.modules):
        if module == "wsocket" or module.startswith("wsocket."):
            del sys.modules[module]
    with atheris.instrument_imports(include=["wsocket"]):
        harness = importlib.import_module(f"fuzz_{name}")
    args = list(sys.argv)
    if not any(not arg.startswith("-") for arg in args[1:]):
        here = os.path.dirname(os.path.abspath(__file__))
        args.append(os.path.join(here, "corpus", name))
    atheris.Setup(args, harness.test_one_input)
    atheris.Fuzz()
