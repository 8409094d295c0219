"""Bottle with WebSockets: a chat page at ``/`` and its WebSocket at ``/echo``.

The Bottle app is wrapped once; serve the wrapped callable, ``application``::

    python examples/bottle_app/app.py --port 8000
"""

from __future__ import annotations

import argparse

from bottle import Bottle, HTTPResponse, request

from wsocket import WebSocketMiddleware, run

PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>Bottle chat echo</title></head>
<body>
<h1>Bottle chat echo</h1>
<form id="chat">
  <input id="text" autocomplete="off" autofocus> <button>Send</button>
</form>
<ul id="messages"></ul>
<script>
  const url = new URL("/echo", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url);
  const show = (text) => {
    const item = document.createElement("li");
    item.textContent = text;
    document.getElementById("messages").append(item);
  };
  socket.addEventListener("message", (event) => show("echo: " + event.data));
  socket.addEventListener("close", (event) => show("closed (" + event.code + ")"));
  document.getElementById("chat").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    socket.send(input.value);
    show("you: " + input.value);
    input.value = "";
  });
</script>
</body>
</html>
"""

app = Bottle()


@app.get("/")
def index():
    return PAGE


@app.get("/echo")
def echo():
    # Read the socket from the environ before the session starts: bottle's
    # `request` is thread-local, which under gevent holds only if threading
    # is monkey-patched.
    ws = request.environ.get("wsgi.websocket")
    if ws is None:
        # A plain HTTP request for this URL, e.g. a browser tab.
        return HTTPResponse("This URL expects a WebSocket connection.\n", 400)
    for message in ws:  # ends when the client closes
        ws.send(message)
    # The middleware discards this body and closes the WebSocket with 1000.
    return ""


application = WebSocketMiddleware(app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Bottle chat echo served by wsocket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # Threads: each open WebSocket holds one.
    run(application, args.host, args.port, server="threading")


if __name__ == "__main__":
    main()
