"""Tests for wsocket.utils: handshake keys and the pure-Python masking."""

from __future__ import annotations

import base64
import itertools
import random
from array import array
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsocket.utils import GUID, accept_key, apply_mask, generate_key


def reference_mask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 section 5.3, written as literally as possible.

    "Octet i of the transformed data is the XOR of octet i of the original
    data with octet at index i modulo 4 of the masking key."
    """
    return bytes(octet ^ mask[i % 4] for i, octet in enumerate(data))


# -- Handshake keys (RFC 6455 sections 1.3 and 4.1) --------------------------


def test_guid() -> None:
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_accept_key_rfc_6455_example() -> None:
    # Section 1.3: the server takes "dGhlIHNhbXBsZSBub25jZQ==", appends the
    # GUID, and answers with the base64 of the SHA-1 of the result.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_key_agrees_with_other_implementations() -> None:
    from websockets.utils import accept_key as websockets_accept_key
    from wsproto.utilities import generate_accept_token

    for _ in range(20):
        key = generate_key()
        expected = accept_key(key)
        assert websockets_accept_key(key) == expected
        assert generate_accept_token(key.encode("ascii")).decode("ascii") == expected


def test_generate_key_is_base64_of_16_bytes() -> None:
    # Section 4.1: "a randomly selected 16-byte value that has been
    # base64-encoded".
    key = generate_key()
    assert isinstance(key, str)
    assert len(key) == 24
    assert len(base64.b64decode(key, validate=True)) == 16


def test_generate_key_differs_each_call() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100


def test_generated_key_round_trips_through_accept_key() -> None:
    key = generate_key()
    accept = accept_key(key)
    assert len(base64.b64decode(accept, validate=True)) == 20


# -- Masking (RFC 6455 section 5.3) ------------------------------------------


def test_apply_mask_rfc_6455_example() -> None:
    # Section 5.7: a masked "Hello" is 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51
    # 0x58, masking key first.
    masked = apply_mask(b"Hello", b"\x37\xfa\x21\x3d")
    assert masked == b"\x7f\x9f\x4d\x51\x58"
    assert apply_mask(masked, b"\x37\xfa\x21\x3d") == b"Hello"


def test_apply_mask_empty() -> None:
    assert apply_mask(b"", b"abcd") == b""


@pytest.mark.parametrize("length", range(0, 70))
def test_apply_mask_matches_reference(length: int) -> None:
    rng = random.Random(length)
    data = rng.randbytes(length)
    mask = rng.randbytes(4)
    assert apply_mask(data, mask) == reference_mask(data, mask)


@pytest.mark.parametrize(
    "convert",
    [bytes, bytearray, memoryview, lambda b: array("B", b)],
    ids=["bytes", "bytearray", "memoryview", "array"],
)
def test_apply_mask_input_types(convert: Callable[[bytes], Any]) -> None:
    data = bytes(range(256)) * 3 + b"tail"
    mask = b"\x01\x80\xff\x10"
    result = apply_mask(convert(data), mask)
    assert type(result) is bytes
    assert result == reference_mask(data, mask)


def test_apply_mask_bytearray_mask() -> None:
    mask = bytearray(b"\x37\xfa\x21\x3d")
    assert apply_mask(b"Hello", mask) == b"\x7f\x9f\x4d\x51\x58"


def test_apply_mask_every_mask_phase() -> None:
    # Lengths 0..8 with every rotation of a mask of distinct bytes.
    base = b"\x00\x01\x02\x03"
    for shift, length in itertools.product(range(4), range(9)):
        mask = base[shift:] + base[:shift]
        data = bytes(length)
        assert apply_mask(data, mask) == (mask * 3)[:length]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 16])
def test_apply_mask_bad_mask_length(size: int) -> None:
    with pytest.raises(ValueError, match="mask must contain 4 bytes"):
        apply_mask(b"Hello", bytes(size))
    with pytest.raises(ValueError, match="mask must contain 4 bytes"):
        apply_mask(b"", bytes(size))


@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
def test_apply_mask_property(data: bytes, mask: bytes) -> None:
    masked = apply_mask(data, mask)
    assert masked == reference_mask(data, mask)
    assert apply_mask(masked, mask) == data
