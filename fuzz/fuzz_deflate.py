#!/usr/bin/env python3
"""Fuzz the permessage-deflate decoder and the negotiation of its parameters.

Input: one byte of options (window bits, context takeover, size limit, how
the message is cut into frames), then either a Sec-WebSocket-Extensions
header (negotiation) or compressed data (decoder). The decoder only raises
ProtocolError (1007) or PayloadTooBig (1009) and never returns more than
the limit; the negotiation only declines or accepts.
"""

from __future__ import annotations

from wsocket.deflate import DeflateOptions, PerMessageDeflate, server_negotiate
from wsocket.exceptions import PayloadTooBig, ProtocolError
from wsocket.headers import parse_extensions


def negotiate(text: str) -> None:
    try:
        offers = parse_extensions(text)
    except ValueError:
        return
    for name, params in offers:
        if name.lower() == "permessage-deflate":
            server_negotiate([params], DeflateOptions())


def test_one_input(data: bytes) -> None:
    if not data:
        return
    options, payload = data[0], data[1:]
    if options & 1:
        negotiate(payload.decode("latin-1"))
        return
    bits = 9 + (options >> 1) % 7
    decoder = PerMessageDeflate(
        is_server=True,
        client_no_context_takeover=bool(options & 0x10),
        client_max_window_bits=bits,
    )
    limit = None if options & 0x20 else 1 << (8 + (options >> 6) * 4)
    frames = 1 + (options >> 6)
    size = max(1, len(payload) // frames)
    total = 0
    for message in range(2):  # a second message reuses the context
        try:
            for start in range(0, max(len(payload), 1), size):
                fin = start + size >= len(payload)
                out = decoder.decompress(
                    payload[start : start + size],
                    fin,
                    None if limit is None else limit - total,
                )
                total += len(out)
                if limit is not None:
                    assert total <= limit, (total, limit)
        except PayloadTooBig as exc:
            assert exc.code == 1009
            return
        except ProtocolError as exc:
            assert exc.code == 1007, exc.code
            return
        total = 0
        assert message < 2


if __name__ == "__main__":
    from _run import main

    main("deflate")
