# Type stub for the optional C extension built from _speedups.c. The signature
# matches wsocket.utils.apply_mask exactly, so that the fallback import in
# wsocket.frames type-checks whichever module provides the function.

def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """Mask or unmask ``data`` with the 4-byte ``mask`` (RFC 6455 section 5.3)."""
