"""Small helpers shared by the sans-I/O core: masking and handshake keys."""

from __future__ import annotations

import base64
import hashlib
import os
import sys

__all__ = ["apply_mask", "accept_key", "generate_key", "GUID"]

#: The magic string of RFC 6455 section 1.3, appended to the client's key.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_from_bytes = int.from_bytes
_byteorder = sys.byteorder


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``mask`` (RFC 6455 section 5.3).

    Pure-Python fallback for ``wsocket._speedups``: XORs the payload as one
    big integer, which runs at hundreds of MB/s instead of a byte loop's few.

    Args:
        data: the payload.
        mask: exactly 4 bytes.

    Returns:
        the masked bytes, as long as ``data``.

    Raises:
        ValueError: if ``mask`` is not 4 bytes long.
    """
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    n = len(data)
    if n == 0:
        return b""
    full, rest = divmod(n, 4)
    key = mask * (full + (1 if rest else 0))
    if rest:
        key = key[:n]
    return (_from_bytes(data, _byteorder) ^ _from_bytes(key, _byteorder)).to_bytes(
        n, _byteorder
    )


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` from ``Sec-WebSocket-Key`` (RFC 6455 4.2.2)."""
    sha1 = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(sha1).decode("ascii")


def generate_key() -> str:
    """Return a fresh random ``Sec-WebSocket-Key``: base64 of 16 random bytes."""
    return base64.b64encode(os.urandom(16)).decode("ascii")
