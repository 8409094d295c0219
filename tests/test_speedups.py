"""Tests for the optional C extension wsocket._speedups.

The C ``apply_mask`` must return exactly the bytes of the pure-Python
``wsocket.utils.apply_mask``, for every length, alignment and input type.

When the extension was not built these tests are skipped locally, but they
fail under CI (``CI`` set in the environment): CI installs with
``WSOCKET_BUILD_EXTENSION=1``, so a missing extension there is a bug.
"""

from __future__ import annotations

import importlib
import inspect
import os
import random
import subprocess
import sys
import threading
from array import array
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsocket import utils

ApplyMask = Callable[..., bytes]

ROOT = Path(__file__).resolve().parent.parent

MASK = b"\x37\xfa\x21\x3d"


def _load_speedups() -> Optional[ModuleType]:
    try:
        return importlib.import_module("wsocket._speedups")
    except ImportError:
        return None


speedups = _load_speedups()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture
def c_apply_mask() -> ApplyMask:
    """The C ``apply_mask``; skipped if it is not built, except under CI."""
    if speedups is None:
        if _in_ci():
            pytest.fail(
                "wsocket._speedups is not built: CI must install with "
                "WSOCKET_BUILD_EXTENSION=1 so that the C masking is tested"
            )
        pytest.skip(
            "wsocket._speedups is not built "
            "(build it with: python setup.py build_ext --inplace)"
        )
    func: ApplyMask = speedups.apply_mask
    return func


@pytest.fixture(params=["python", "c"])
def any_apply_mask(request: pytest.FixtureRequest) -> ApplyMask:
    """Each implementation in turn, for tests of the shared contract."""
    if request.param == "python":
        return utils.apply_mask
    func: ApplyMask = request.getfixturevalue("c_apply_mask")
    return func


def _reference_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(octet ^ mask[i % 4] for i, octet in enumerate(data))


# -- The shared contract, run against both implementations -------------------


def test_rfc_6455_example(any_apply_mask: ApplyMask) -> None:
    # Section 5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58.
    assert any_apply_mask(b"Hello", MASK) == b"\x7f\x9f\x4d\x51\x58"
    assert any_apply_mask(b"\x7f\x9f\x4d\x51\x58", MASK) == b"Hello"


def test_empty_data(any_apply_mask: ApplyMask) -> None:
    for data in (b"", bytearray(), memoryview(b"")):
        result = any_apply_mask(data, MASK)
        assert type(result) is bytes
        assert result == b""


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("mask_type", [bytes, bytearray])
def test_bad_mask_length(
    any_apply_mask: ApplyMask, size: int, mask_type: Callable[[bytes], Any]
) -> None:
    for data in (b"Hello", b""):
        with pytest.raises(ValueError, match="^mask must contain 4 bytes$"):
            any_apply_mask(data, mask_type(bytes(size)))


@pytest.mark.parametrize("data", [None, 42, "text", object()])
def test_data_not_bytes_like(any_apply_mask: ApplyMask, data: object) -> None:
    with pytest.raises(TypeError):
        any_apply_mask(data, MASK)


def test_mask_not_bytes_like(any_apply_mask: ApplyMask) -> None:
    with pytest.raises(TypeError):
        any_apply_mask(b"Hello", None)


def test_keyword_arguments(any_apply_mask: ApplyMask) -> None:
    expected = b"\x7f\x9f\x4d\x51\x58"
    assert any_apply_mask(data=b"Hello", mask=MASK) == expected
    assert any_apply_mask(mask=MASK, data=b"Hello") == expected
    assert any_apply_mask(b"Hello", mask=MASK) == expected


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((), {}),
        ((b"Hello",), {}),
        ((b"Hello", MASK, MASK), {}),
        ((b"Hello",), {"data": b"Hello"}),
        ((b"Hello", MASK), {"mask": MASK}),
        ((b"Hello", MASK), {"other": 1}),
        ((), {"mask": MASK}),
    ],
)
def test_bad_call(
    any_apply_mask: ApplyMask, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(TypeError):
        any_apply_mask(*args, **kwargs)


def test_result_is_new_bytes(any_apply_mask: ApplyMask) -> None:
    data = bytearray(b"payload!")
    result = any_apply_mask(data, MASK)
    assert type(result) is bytes
    # The input is left untouched.
    assert data == b"payload!"


# -- C against Python, byte for byte -----------------------------------------

# One random buffer, sliced at every offset: memoryview slices make the C
# loop start at every alignment relative to its 8- or 16-byte words.
_RNG = random.Random(6455)
_MAX_LENGTH = 4096
_POOL = _RNG.randbytes(_MAX_LENGTH + 32)


def test_every_length_and_alignment(c_apply_mask: ApplyMask) -> None:
    rng = random.Random(1)
    pool = memoryview(_POOL)
    for offset in range(16):
        for length in range(_MAX_LENGTH + 1):
            mask = rng.randbytes(4)
            data = pool[offset : offset + length]
            expected = utils.apply_mask(data, mask)
            result = c_apply_mask(data, mask)
            if result != expected:  # pragma: no cover - reported below
                pytest.fail(f"mismatch at offset {offset}, length {length}")


@pytest.mark.parametrize(
    "convert",
    [bytes, bytearray, lambda b: array("B", b)],
    ids=["bytes", "bytearray", "array"],
)
def test_every_length_input_types(
    c_apply_mask: ApplyMask, convert: Callable[[bytes], Any]
) -> None:
    rng = random.Random(2)
    for length in range(_MAX_LENGTH + 1):
        mask = rng.randbytes(4)
        data = convert(_POOL[:length])
        expected = utils.apply_mask(data, mask)
        result = c_apply_mask(data, mask)
        if result != expected:  # pragma: no cover - reported below
            pytest.fail(f"mismatch at length {length}")


@pytest.mark.parametrize("length", [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 100])
def test_matches_reference(c_apply_mask: ApplyMask, length: int) -> None:
    for offset in range(16):
        data = _POOL[offset : offset + length]
        assert c_apply_mask(memoryview(_POOL)[offset:][:length], MASK) == (
            _reference_mask(data, MASK)
        )


@pytest.mark.parametrize("step", [2, 3, -1, -5])
def test_non_contiguous_memoryview(c_apply_mask: ApplyMask, step: int) -> None:
    # Strided views are gathered before masking; the pure-Python version
    # copies them too, so both agree.
    view = memoryview(_POOL[:1000])[::step]
    assert not view.c_contiguous
    expected = utils.apply_mask(view, MASK)
    assert c_apply_mask(view, MASK) == expected
    assert expected == _reference_mask(view.tobytes(), MASK)


def test_large_input(c_apply_mask: ApplyMask) -> None:
    # Above 64 KiB the C loop runs with the GIL released.
    rng = random.Random(3)
    data = rng.randbytes(5 * 1024 * 1024 + 3)
    for mask in (MASK, rng.randbytes(4)):
        expected = utils.apply_mask(data, mask)
        result = c_apply_mask(data, mask)
        assert result == expected
        assert c_apply_mask(result, mask) == data
    view = memoryview(data)[5:]
    assert c_apply_mask(view, MASK) == utils.apply_mask(view, MASK)
    bigger_strided = memoryview(data)[::2]
    assert c_apply_mask(bigger_strided, MASK) == utils.apply_mask(bigger_strided, MASK)


def test_large_input_from_threads(c_apply_mask: ApplyMask) -> None:
    # Several threads mask big payloads at once, each with its own mask.
    rng = random.Random(4)
    data = rng.randbytes(2 * 1024 * 1024 + 1)
    masks = [rng.randbytes(4) for _ in range(4)]
    results: dict[int, bytes] = {}

    def work(index: int) -> None:
        out = b""
        for _ in range(3):
            out = c_apply_mask(data, masks[index])
        results[index] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(masks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, mask in enumerate(masks):
        assert results[index] == utils.apply_mask(data, mask)


# The fixture returns the same stateless function every time, so sharing it
# between generated examples is safe.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=600),
    mask=st.binary(min_size=4, max_size=4),
    offset=st.integers(0, 15),
)
def test_property(
    c_apply_mask: ApplyMask, data: bytes, mask: bytes, offset: int
) -> None:
    view = memoryview(bytes(offset) + data)[offset:]
    assert c_apply_mask(view, mask) == utils.apply_mask(data, mask)


# -- C-only behaviour -----------------------------------------------------------


def test_any_bytes_like_mask(c_apply_mask: ApplyMask) -> None:
    expected = b"\x7f\x9f\x4d\x51\x58"
    assert c_apply_mask(b"Hello", memoryview(MASK)) == expected
    assert c_apply_mask(b"Hello", array("B", MASK)) == expected


def test_buffers_are_released(c_apply_mask: ApplyMask) -> None:
    # A bytearray cannot be resized while a buffer on it is exported, so a
    # leaked export would make these appends fail.
    data = bytearray(b"x" * 100_000)
    c_apply_mask(data, MASK)
    data.append(0)
    mask = bytearray(b"abc")
    with pytest.raises(ValueError):
        c_apply_mask(data, mask)
    mask.append(0)
    data.append(0)
    good_mask = bytearray(MASK)
    with pytest.raises(TypeError):
        c_apply_mask(None, good_mask)
    good_mask.append(0)
    strided = bytearray(b"y" * 100)
    c_apply_mask(memoryview(strided)[::2], MASK)
    strided.append(0)


def test_signature_matches_python(c_apply_mask: ApplyMask) -> None:
    c_params = list(inspect.signature(c_apply_mask).parameters)
    py_params = list(inspect.signature(utils.apply_mask).parameters)
    assert c_params == py_params == ["data", "mask"]


# -- Selection in wsocket.frames ---------------------------------------------


def test_frames_uses_speedups(c_apply_mask: ApplyMask) -> None:
    frames = importlib.import_module("wsocket.frames")
    assert frames.apply_mask is c_apply_mask


_BLOCK_WITH_NONE = """
import sys
sys.modules["wsocket._speedups"] = None
"""

_BLOCK_WITH_FINDER = """
import sys

class BlockSpeedups:
    def find_spec(self, name, path=None, target=None):
        if name == "wsocket._speedups":
            raise ImportError("blocked for this test")
        return None

sys.meta_path.insert(0, BlockSpeedups())
"""

_CHECK_FALLBACK = """
import wsocket.frames
import wsocket.utils
assert "wsocket._speedups" not in sys.modules or sys.modules[
    "wsocket._speedups"
] is None, "the extension was imported"
assert wsocket.frames.apply_mask is wsocket.utils.apply_mask, (
    wsocket.frames.apply_mask
)
print("fallback in use")
"""


@pytest.mark.parametrize(
    "blocker", [_BLOCK_WITH_NONE, _BLOCK_WITH_FINDER], ids=["modules", "finder"]
)
def test_fallback_without_extension(blocker: str) -> None:
    # A fresh interpreter, so that the extension was never imported there.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    completed = subprocess.run(
        [sys.executable, "-c", blocker + _CHECK_FALLBACK],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "fallback in use"
