"""WSocketApp demo: pages, path parameters, JSON, streaming, static files and
a WebSocket echo, in one small application.

``app`` is a WSGI callable, ready for any server wsocket supports::

    python examples/app_demo.py --port 8080                        # wsocket's server
    python -m gevent.monkey examples/app_demo.py --server gevent   # ... on gevent
    cd examples && gunicorn -k gevent app_demo:app                 # gunicorn

Routes:

- ``/``: an HTML page whose script talks to the WebSocket;
- ``/hello/<name>``: a path parameter;
- ``/api/items/<int:item_id>`` (GET) and ``/api/items`` (POST): JSON;
- ``/stream``: a body sent chunk by chunk as it is produced (``?fail=N``
  breaks it after N chunks, to show that the client then gets a cut
  response, not one that looks complete);
- ``/static/...``: the files of ``examples/app_static``;
- ``/echo``: a WebSocket that sends every message back.
"""

from __future__ import annotations

import argparse
import html
import os

from wsocket.app import WSocketApp
from wsocket.responses import Response, json_response

HERE = os.path.dirname(os.path.abspath(__file__))

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>wsocket demo</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body>
<h1>wsocket demo</h1>
<form id="f"><input id="m" value="Hello, WebSocket"><button>Send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/echo");
ws.onopen = () => log("open");
ws.onmessage = (event) => log("< " + event.data);
ws.onclose = (event) => log("closed " + event.code);
document.getElementById("f").onsubmit = (event) => {
  event.preventDefault();
  ws.send(document.getElementById("m").value);
};
</script>
</body></html>
"""

app = WSocketApp(max_message_size=2**20)


@app.route("/")
def index():
    return PAGE


@app.route("/hello/<name>")
def hello(name):
    # The body is HTML: escape what the client sent.
    return f"<p>Hello, {html.escape(name)}!</p>"


@app.route("/api/items/<int:item_id>")
def get_item(item_id):
    if item_id > 1000:
        return json_response({"error": f"no item {item_id}"}, 404)
    return json_response({"id": item_id, "name": f"item {item_id}"})


@app.route("/api/items", methods=["POST"])
def create_item(request):
    item = request.json  # a malformed body is answered 400
    return json_response({"created": item}, 201, {"Location": "/api/items/1"})


@app.route("/stream")
def stream(request):
    fail = request.query.get("fail")

    def lines():
        for number in range(5):
            if fail is not None and number == int(fail):
                raise RuntimeError("the stream broke")
            yield f"line {number}\n"

    return Response(lines(), content_type="text/plain; charset=utf-8")


app.static("/static", os.path.join(HERE, "app_static"))


@app.websocket("/echo")
def echo(ws):
    for message in ws:
        ws.send(message)


def main() -> None:
    parser = argparse.ArgumentParser(description="wsocket application demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--server", default="auto", choices=["auto", "gevent", "threading"]
    )
    args = parser.parse_args()
    app.run(args.host, args.port, args.server)


if __name__ == "__main__":
    main()
