"""Echo server: WebSocket echo at /echo, a small HTML page at /.

``app`` is a WSGI callable with the WebSocket middleware applied, ready for
any server wsocket supports::

    python examples/echo.py --port 8080            # wsocket's own server
    cd examples && gunicorn -k gevent echo:app     # gunicorn
"""

from __future__ import annotations

import argparse

from wsocket import WebSocketMiddleware, run

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>wsocket echo</title></head>
<body>
<h1>wsocket echo</h1>
<form id="f">
<input id="m" value="Hello, WebSocket" autocomplete="off"><button>Send</button>
</form>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/echo");
ws.onopen = () => log("open");
ws.onmessage = (event) => log("< " + event.data);
ws.onclose = (event) => log("closed " + event.code);
document.getElementById("f").onsubmit = (event) => {
  event.preventDefault();
  const text = document.getElementById("m").value;
  ws.send(text);
  log("> " + text);
};
</script>
</body></html>
"""


def echo_app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    path = environ.get("PATH_INFO", "/")
    if ws is not None and path == "/echo":
        for message in ws:
            ws.send(message)
        return []
    if path == "/":
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(PAGE))),
            ],
        )
        return [PAGE]
    body = b"Not Found\n"
    start_response(
        "404 Not Found",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]


app = WebSocketMiddleware(echo_app, max_message_size=16 * 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description="wsocket echo server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--server", default="auto", choices=["auto", "gevent", "threading"]
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no start-up line and no access log"
    )
    args = parser.parse_args()
    run(app, args.host, args.port, args.server, quiet=args.quiet)


if __name__ == "__main__":
    main()
