#!/usr/bin/env python3
"""Fuzz the server side of the opening handshake: server_handshake(environ).

Input: one byte of options (start from a valid request or not, the origin
policy, subprotocols, compression), then header lines ``Name: value`` that
are added to the request's environ as a WSGI server would. Only
HandshakeError (and its NegotiationError) may come out, and its response
must build.
"""

from __future__ import annotations

from typing import Any, Dict

from wsocket.deflate import DeflateOptions
from wsocket.exceptions import HandshakeError
from wsocket.handshake import reject_response, server_handshake

VALID = {
    "REQUEST_METHOD": "GET",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "10.0.0.1",
    "HTTP_HOST": "server.example.com",
    "HTTP_UPGRADE": "websocket",
    "HTTP_CONNECTION": "Upgrade",
    "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ==",
    "HTTP_SEC_WEBSOCKET_VERSION": "13",
}
ORIGINS: Any = (
    None,
    "*",
    ["https://*.example.com", None],
    ["http://server.example.com"],
)


def environ_from(options: int, text: str) -> Dict[str, Any]:
    environ: Dict[str, Any] = dict(VALID) if options & 1 else {}
    for number, line in enumerate(text.splitlines()):
        name, sep, value = line.partition(":")
        if not sep:
            if number == 0 and not options & 1:
                method, _, version = line.partition(" ")
                environ["REQUEST_METHOD"] = method
                environ["SERVER_PROTOCOL"] = version.rpartition(" ")[2]
            continue
        key = name.strip().upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
        value = value.strip(" \t")
        if key in environ and not options & 2:
            environ[key] += ", " + value  # repeated fields, joined (RFC 9110 5.3)
        else:
            environ[key] = value
    return environ


def test_one_input(data: bytes) -> None:
    if not data:
        return
    options = data[0]
    environ = environ_from(options, data[1:].decode("latin-1"))
    try:
        handshake = server_handshake(
            environ,
            subprotocols=("chat", "superchat") if options & 4 else (),
            compression=DeflateOptions() if options & 8 else None,
            origins=ORIGINS[(options >> 4) % 4],
            trusted_proxies=("10.0.0.0/8",) if options & 0x40 else (),
        )
    except HandshakeError as exc:
        status, headers, body = reject_response(exc)
        assert 400 <= exc.status < 600, exc.status
        assert status.startswith(str(exc.status)) and body.endswith(b"\n")
        for name, value in headers:
            assert "\r" not in value and "\n" not in value, (name, value)
        return
    for name, value in handshake.headers:
        assert "\r" not in value and "\n" not in value, (name, value)


if __name__ == "__main__":
    from _run import main

    main("handshake_server")
