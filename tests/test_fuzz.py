"""Replay the fuzzing corpora and run the harnesses on hypothesis' inputs.

Each harness under fuzz/ checks the contract of one parser: any input gives
the documented error or a clean close, never another exception. The corpus
atheris grew (kept in fuzz/corpus/TARGET) is replayed here on every run,
without atheris; hypothesis adds a bounded number of fresh inputs, and many
more under ``pytest -m soak``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest
from helpers import example_count
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = [
    "frames",
    "protocol",
    "handshake_server",
    "handshake_client",
    "deflate",
    "http11",
    "scan",
]


def harness(target: str) -> ModuleType:
    name = f"fuzz_{target}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FUZZ / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def corpus(target: str) -> list[Path]:
    return sorted((FUZZ / "corpus" / target).iterdir())


def test_every_harness_has_a_corpus_and_a_readme_entry() -> None:
    readme = (FUZZ / "README.md").read_text()
    on_disk = sorted(p.stem[len("fuzz_") :] for p in FUZZ.glob("fuzz_*.py"))
    assert on_disk == sorted(TARGETS)
    for target in TARGETS:
        assert f"fuzz_{target}.py" in readme
        assert corpus(target), f"fuzz/corpus/{target} is empty"


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replays_cleanly(target: str) -> None:
    check: Callable[[bytes], None] = harness(target).test_one_input
    for path in corpus(target):
        check(path.read_bytes())


def test_harnesses_catch_a_broken_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    # A harness that let everything through would prove nothing: one that
    # meets an undocumented exception must fail.
    frames = harness("frames")

    def broken(*args: object, **kwargs: object) -> None:
        raise IndexError("not a documented error")

    monkeypatch.setattr(frames.Frame, "parse", broken)
    with pytest.raises(IndexError):
        frames.test_one_input(b"\x00\x81\x00")


def examples(count: int) -> Callable[..., object]:
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


@pytest.mark.parametrize("target", TARGETS)
@examples(example_count(200))
@given(data=st.binary(max_size=512))
def test_random_inputs(target: str, data: bytes) -> None:
    harness(target).test_one_input(data)


@pytest.mark.parametrize("target", TARGETS)
@examples(example_count(200))
@given(data=st.data())
def test_mutated_corpus_inputs(target: str, data: st.DataObject) -> None:
    # Flip, cut and splice the kept inputs: closer to the interesting paths
    # than random bytes.
    seed = data.draw(st.sampled_from(corpus(target))).read_bytes()
    position = data.draw(st.integers(0, len(seed)))
    insert = data.draw(st.binary(max_size=16))
    cut = data.draw(st.integers(0, 16))
    harness(target).test_one_input(seed[:position] + insert + seed[position + cut :])


@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("target", TARGETS)
@examples(int(os.environ.get("WSOCKET_SOAK_EXAMPLES", "20000")))
@given(data=st.binary(max_size=4096))
def test_random_inputs_soak(target: str, data: bytes) -> None:
    harness(target).test_one_input(data)
