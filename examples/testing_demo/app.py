"""A small WSGI app, with a WebSocket, and the tests in ``test_app.py``.

``test_app.py`` shows how to test such an app with
:class:`wsocket.testing.TestClient`, without starting a server::

    pytest examples/testing_demo

The app itself is served like any other::

    python examples/testing_demo/app.py --port 8000
"""

from __future__ import annotations

import argparse
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from wsocket import WebSocketMiddleware, run


def respond(start_response, status, body, content_type="text/plain", headers=()):
    data = body.encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", f"{content_type}; charset=utf-8"),
            ("Content-Length", str(len(data))),
            *headers,
        ],
    )
    return [data]


def current_user(environ):
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    return cookie["user"].value if "user" in cookie else None


def chat(ws, environ):
    """The WebSocket at /chat: greets the user, then shouts back what it hears."""
    ws.send(f"welcome, {current_user(environ) or 'guest'}")
    for message in ws:
        if message == "/quit":
            ws.close(1000, "bye")
            break
        ws.send(message.upper())


def site(environ, start_response):
    path = environ["PATH_INFO"]
    ws = environ.get("wsgi.websocket")
    if ws is not None:
        if path == "/chat":
            chat(ws, environ)
        else:
            ws.close(4004, "no such room")
        return []
    if path == "/":
        name = parse_qs(environ["QUERY_STRING"]).get("name", ["world"])[0]
        return respond(start_response, "200 OK", f"Hello, {name}!")
    if path == "/login" and environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(length).decode("utf-8"))
        user = form.get("user", [""])[0]
        if not user.isalnum():
            return respond(start_response, "400 Bad Request", "user name required")
        cookie = ("Set-Cookie", f"user={user}; Path=/; HttpOnly")
        return respond(start_response, "200 OK", f"Hello, {user}!", headers=[cookie])
    if path == "/me":
        body = json.dumps({"user": current_user(environ)})
        return respond(start_response, "200 OK", body, "application/json")
    return respond(start_response, "404 Not Found", "not found")


# Browsers on other sites may not open the chat: only pages served from here
# (or clients that send no Origin) are allowed.
app = WebSocketMiddleware(site, origins=["http://localhost:8000", None])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    run(app, port=args.port)


if __name__ == "__main__":
    main()
