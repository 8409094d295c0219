#!/usr/bin/env python3
"""Fuzz the receive path's C scanner against its pure-Python twin.

Input: two bytes of options (side, size limit, where scanning starts, how the
bytes are cut into reads), then the bytes received from the peer.

Two checks, both comparisons, so that any difference is a failure:

- ``wsocket._speedups.scan_messages`` and
  ``wsocket.frames.python_scan_messages`` give the same events (same types,
  same data) and the same offset on the bytes, or raise the same error;
- a ``Protocol`` fed the bytes in reads ends the same with either scanner:
  same events, same bytes written, same failure code and reason.

Without the extension (the replay in the test suite on such a build) the
pure-Python twin is compared with itself, which still checks that it never
raises on any input.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from wsocket import frames, protocol
from wsocket.protocol import CLIENT, SERVER, BinaryMessage, Protocol, TextMessage

try:
    from wsocket._speedups import scan_messages as compiled_scan
except ImportError:  # pragma: no cover - depends on the build
    compiled_scan = frames.python_scan_messages

python_scan = frames.python_scan_messages

MAX_SIZES = (None, 0, 1, 125, 126, 300, 65536, 2**20)


def scan(
    func: Callable[..., int], buf: Any, pos: int, mask: bool, max_size: Optional[int]
) -> Tuple[str, List[Any], Any]:
    events: List[Any] = []
    try:
        end = func(buf, pos, mask, max_size, events, TextMessage, BinaryMessage)
    except ValueError as exc:
        return "error", events, str(exc)
    return "ok", events, end


def receive(
    func: Callable[..., int], side: Any, max_size: Optional[int], data: bytes, step: int
) -> Tuple[Any, ...]:
    saved = protocol.scan_messages, protocol._urandom
    protocol.scan_messages = func
    # The client masks what it writes with random keys: fixed ones here, so
    # that both runs write the same bytes.
    protocol._urandom = lambda n: b"\x00" * n
    try:
        peer = Protocol(side, max_message_size=max_size)
        events = []
        out = []
        for start in range(0, len(data), step):
            peer.receive_data(data[start : start + step])
            events.extend(peer.events_received())
            out.extend(peer.data_to_send())
        peer.receive_eof()
        events.extend(peer.events_received())
        out.extend(peer.data_to_send())
    finally:
        protocol.scan_messages, protocol._urandom = saved
    failure = peer.failure
    return (
        events,
        [type(event.data) for event in events if hasattr(event, "data")],
        out,
        None if failure is None else (type(failure), failure.code, str(failure)),
        peer.close_code,
        peer.close_reason,
    )


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    options, cut, received = data[0], data[1], data[2:]
    mask = bool(options & 1)
    max_size = MAX_SIZES[(options >> 1) % len(MAX_SIZES)]
    pos = min((options >> 4) * (cut % 4), len(received) + 1)
    for buf in (received, bytearray(received), memoryview(data)[2:]):
        expected = scan(python_scan, buf, pos, mask, max_size)
        assert scan(compiled_scan, buf, pos, mask, max_size) == expected
    side = SERVER if mask else CLIENT
    step = 1 + cut % 64 if cut & 0x80 else len(received) or 1
    expected = receive(python_scan, side, max_size, received, step)
    assert receive(compiled_scan, side, max_size, received, step) == expected


if __name__ == "__main__":
    from _run import main

    main("scan")
