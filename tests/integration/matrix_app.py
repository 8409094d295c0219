"""The WSGI app every server of the integration matrix serves.

Routes:
    /echo   WebSocket echo (text and binary, up to 16 MiB); HTTP: 200 "echo"
    /sub    WebSocket that sends its subprotocol, then echoes
    /boom   WebSocket handler that raises after one message (-> 1011)
    /close  WebSocket handler that closes with 4001 "bye" after one message
    /flood  WebSocket that, after one message, sends 64 KiB messages until
            the connection closes (fills the buffers of a client that does
            not read)
    /hello  plain HTTP: "Hello, World!"
    /post   plain HTTP: echoes the request body
"""

from __future__ import annotations

import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

from wsocket import ConnectionClosed, WebSocketMiddleware  # noqa: E402


def inner(environ, start_response):
    path = environ.get("PATH_INFO", "")
    ws = environ.get("wsgi.websocket")
    if ws is not None:
        if path == "/sub":
            ws.send(ws.subprotocol or "")
        if path == "/boom":
            ws.receive()
            raise RuntimeError("handler failure on purpose")
        if path == "/close":
            ws.receive()
            ws.close(4001, "bye")
            return []
        if path == "/flood":
            ws.receive()
            chunk = b"x" * 65536
            try:
                while True:
                    ws.send(chunk)
            except ConnectionClosed:
                return []
        for message in ws:
            ws.send(message)
        return []
    if path == "/post":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]
    body = b"Hello, World!" if path == "/hello" else path.encode("latin-1")
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]


app = WebSocketMiddleware(
    inner, subprotocols=["chat.v2", "chat.v1"], max_message_size=16 * 2**20
)
