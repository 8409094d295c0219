#!/usr/bin/env python3
"""Fuzz the frame parser: wsocket.frames.Frame.parse and parse_close.

Input: one byte of options (who reads, size limit), then the bytes read.
Only ProtocolError (1002, 1007) and PayloadTooBig (1009) may come out, and
every frame parsed must serialize back to bytes that parse to itself.
"""

from __future__ import annotations

from wsocket.exceptions import PayloadTooBig, ProtocolError
from wsocket.frames import Frame, parse_close

MASKS = (None, True, False)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    options, buf = data[0], memoryview(data[1:])
    mask = MASKS[options % 3]
    max_size = None if options & 0x80 else (options >> 2) * 64
    pos = 0
    for _ in range(256):
        try:
            result = Frame.parse(buf[pos:], mask=mask, max_size=max_size)
        except PayloadTooBig as exc:
            assert exc.code == 1009, exc.code
            return
        except ProtocolError as exc:
            assert exc.code in (1002, 1007), exc.code
            return
        if result is None:
            return
        frame, consumed = result
        assert 2 <= consumed <= len(buf) - pos, (consumed, len(buf), pos)
        wire = frame.serialize(mask=bool(mask))
        again = Frame.parse(wire, mask=bool(mask))
        assert again is not None and again[0] == frame and again[1] == len(wire)
        if frame.opcode == 0x8:
            try:
                code, reason = parse_close(frame.payload)
            except ProtocolError as exc:
                assert exc.code in (1002, 1007), exc.code
            else:
                assert isinstance(code, int) and isinstance(reason, str)
        pos += consumed


if __name__ == "__main__":
    from _run import main

    main("frames")
