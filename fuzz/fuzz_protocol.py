#!/usr/bin/env python3
"""Fuzz the protocol state machine: wsocket.protocol.Protocol.

Input: two bytes of options (side, permessage-deflate, size limit, how the
bytes are cut into reads), then the bytes received from the peer. The
protocol never raises on received bytes; when it fails the connection, the
code is one RFC 6455 allows for the fault, the Close frame is queued before
the end of the stream, and nothing more is parsed.
"""

from __future__ import annotations

from wsocket.deflate import PerMessageDeflate
from wsocket.frames import Frame
from wsocket.protocol import CLIENT, SERVER, Protocol, State

FAILURE_CODES = {1002, 1007, 1009}


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    options, cut, received = data[0], data[1], data[2:]
    side = SERVER if options & 1 else CLIENT
    deflate = None
    if options & 2:
        deflate = PerMessageDeflate(
            is_server=side is SERVER,
            server_no_context_takeover=bool(options & 4),
            client_no_context_takeover=bool(options & 8),
            server_max_window_bits=9 + (options >> 4) % 7,
            client_max_window_bits=9 + (options >> 4) % 7,
        )
    max_size = None if options & 0x80 else 16 + ((options >> 4) & 7) * 256
    protocol = Protocol(side, max_message_size=max_size, deflate=deflate)
    step = 1 + cut % 64
    out = []
    for start in range(0, len(received), step):
        protocol.receive_data(received[start : start + step])
        for event in protocol.events_received():
            assert event is not None
        out.extend(protocol.data_to_send())
    protocol.receive_eof()
    protocol.events_received()
    out.extend(protocol.data_to_send())
    assert protocol.state is State.CLOSED
    if protocol.failure is not None:
        assert protocol.failure.code in FAILURE_CODES, protocol.failure.code
    # What we wrote: whole frames, then at most one end of stream, last.
    if b"" in out:
        assert out.index(b"") == len(out) - 1
    wire = b"".join(out)
    pos = 0
    closes = 0
    while pos < len(wire):
        parsed = Frame.parse(wire[pos:], mask=side is CLIENT)
        assert parsed is not None, "a partial frame was written"
        frame, consumed = parsed
        closes += frame.opcode == 0x8
        pos += consumed
    assert closes <= 1


if __name__ == "__main__":
    from _run import main

    main("protocol")
