# Type stub for the optional C extension built from _speedups.c. The
# signatures match their pure-Python twins (wsocket.utils.apply_mask,
# wsocket.frames.python_scan_messages) exactly, so that the fallback imports
# in wsocket.frames type-check whichever module provides the functions.

from typing import Any, Callable

def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``mask`` (RFC 6455 section 5.3)."""

def scan_messages(
    data: bytes | bytearray | memoryview,
    pos: int,
    mask: bool,
    max_size: int | None,
    events: list[Any],
    text_message: Callable[[str], Any],
    binary_message: Callable[[bytes], Any],
    /,
) -> int:
    """Turn the whole single-frame messages at ``data[pos:]`` into events."""
