#!/usr/bin/env python3
"""Fuzz the HTTP/1.1 parser: RequestReader, ResponseReader and the body readers.

Input: one byte of options (request or response, read size, small limits),
then the bytes received. Only HTTPParseError may come out, with a status a
server can send (400, 414, 431, 501, 505); a request that parses must have
a token method, a target without spaces or controls, and header values
without CR, LF or NUL; its body reader consumes the rest without raising
anything else.
"""

from __future__ import annotations

from wsocket.http11 import (
    HTTPParseError,
    Limits,
    RequestReader,
    ResponseReader,
    body_reader,
)

STATUSES = {400, 408, 413, 414, 431, 501, 505}
SMALL = Limits(
    max_request_line=64,
    max_headers=4,
    max_head_size=256,
    max_chunk_line=32,
    max_trailer_size=64,
)


def _feed(reader, data: bytes, step: int):  # type: ignore[no-untyped-def]
    buf = bytearray()
    for start in range(0, len(data), step):
        buf += data[start : start + step]
        result = reader.read(buf)
        if result is not None:
            return result, buf, data[start + step :]
    return None, buf, b""


def test_one_input(data: bytes) -> None:
    if not data:
        return
    options, body = data[0], data[1:]
    step = 1 + (options >> 3) % 16 if options & 0x04 else max(1, len(body))
    limits = SMALL if options & 0x02 else Limits()
    try:
        if options & 0x01:
            response, _, _ = _feed(ResponseReader(limits), body, step)
            if response is not None:
                assert 100 <= response.status <= 999, response.status
            return
        request, buf, rest = _feed(RequestReader(limits), body, step)
        if request is None:
            return
        assert request.method and " " not in request.method, request.method
        assert request.target and not any(c in request.target for c in " \r\n\0")
        for name, value in request.headers:
            assert name and not any(c in value for c in "\r\n\0"), (name, value)
        assert not (request.chunked and request.content_length is not None)
        reader = body_reader(request, limits)
        buf += rest
        for _ in range(len(buf) + 2):
            chunk = reader.read(buf, 65536)
            if not chunk:  # the end (b"") or more needed (None)
                break
    except HTTPParseError as exc:
        assert exc.status in STATUSES, exc.status
        assert exc.reason and "\n" not in exc.reason, exc.reason


if __name__ == "__main__":
    from _run import main

    main("http11")
