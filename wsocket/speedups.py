"""Which masking implementation this installation uses.

Masking and unmasking every frame payload (RFC 6455 section 5.3) runs in the
C accelerator ``wsocket._speedups`` when it was built at installation, and
in the pure-Python :func:`wsocket.utils.apply_mask` otherwise; both give the
same bytes. The receive path's common case,
:func:`wsocket.frames.scan_messages`, is built into the same extension (else
it is the twin :func:`wsocket.frames.python_scan_messages`), so it runs in C
exactly when masking does. ``wsocket version`` prints the same facts::

    >>> import wsocket.speedups
    >>> wsocket.speedups.IMPLEMENTATION in ("C", "Python")
    True

Installing with ``WSOCKET_BUILD_EXTENSION=1`` makes a missing compiler an
error instead of a silent fallback; ``WSOCKET_BUILD_EXTENSION=0`` skips the
extension.
"""

from __future__ import annotations

from . import frames, utils

__all__ = ["ACCELERATED", "IMPLEMENTATION"]

#: True when frames are masked and scanned by the C accelerator, False when
#: by the pure-Python fallback. Read from what :mod:`wsocket.frames`
#: imported, so it says what runs, not what might (an extension built
#: before the scanner existed counts as not accelerated).
ACCELERATED: bool = (
    frames.apply_mask is not utils.apply_mask
    and frames.scan_messages is not frames.python_scan_messages
)

#: ``"C"`` or ``"Python"``: the masking implementation in use.
IMPLEMENTATION: str = "C" if ACCELERATED else "Python"
