#!/usr/bin/env python3
"""Fuzz the client side of the opening handshake: ClientHandshake.receive_data.

Input: one byte of options (start from a valid 101 head or not, offer
compression and subprotocols, how the bytes are cut), then the server's
response bytes. Only HandshakeError (and its NegotiationError) may come
out; a result hands over every byte past the head.
"""

from __future__ import annotations

from typing import Optional

from wsocket.deflate import DeflateOptions
from wsocket.exceptions import HandshakeError
from wsocket.handshake import ClientHandshake, ClientHandshakeResult
from wsocket.utils import accept_key


def test_one_input(data: bytes) -> None:
    if not data:
        return
    options, response = data[0], data[1:]
    client = ClientHandshake(
        "ws://example.com/chat",
        subprotocols=["chat", "superchat"] if options & 2 else [],
        compression=DeflateOptions() if options & 4 else None,
    )
    client.request_bytes()
    if options & 1:
        head = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(client.key)}\r\n"
        )
        response = head.encode() + response
    step = 1 + (options >> 3) * 8
    result: Optional[ClientHandshakeResult] = None
    fed = 0
    try:
        for start in range(0, len(response), step):
            fed = min(start + step, len(response))
            result = client.receive_data(response[start:fed])
            if result is not None:
                break
    except HandshakeError as exc:
        assert isinstance(exc.status, int)
        return
    if result is not None:
        assert result.status == 101
        # The bytes fed past the head are handed over, none lost.
        assert response[:fed].endswith(result.extra)


if __name__ == "__main__":
    from _run import main

    main("handshake_client")
