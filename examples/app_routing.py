"""Routing with WSocketApp: fixed paths, parameters, wildcards, methods and
WebSocket routes. Run it and try the URLs of each handler's comment::

    python examples/app_routing.py --port 8000
"""

from __future__ import annotations

import argparse

from wsocket.app import WSocketApp
from wsocket.responses import json_response

app = WSocketApp()


# GET /  (HEAD and OPTIONS are answered automatically)
@app.route("/")
def index():
    return "<h1>Routing demo</h1>"


# GET /users/ada -> name="ada"; one segment, never a slash
@app.route("/users/<name>")
def user(name):
    return json_response({"user": name})


# GET /items/42 -> item_id=42 (an int); /items/x is a 404
@app.route("/items/<int:item_id>")
def item(item_id):
    return json_response({"item": item_id})


# GET /docs/guide/intro.html -> page="guide/intro.html"
@app.route("/docs/<path:page>")
def docs(page):
    return json_response({"page": page})


# GET /reports/2024.csv -> year=2024: text and a parameter in one segment
@app.route("/reports/<int:year>.csv")
def report(year):
    return f"year,total\n{year},0\n"


# Every path under /legacy/ (longest wildcard prefix wins)
@app.route("/legacy/*")
def legacy(environ, start_response):
    start_response(410)
    return f"{environ['PATH_INFO']} is gone"


# POST or PUT /notes; GET /notes is a 405 with "Allow: OPTIONS, POST, PUT"
@app.route("/notes", methods=["POST", "PUT"])
def notes(request):
    return json_response({"saved": request.text}, 201)


# A handler taking environ serves HTTP and WebSocket on one path
@app.route("/clock")
def clock(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        return "open a WebSocket on this URL"
    ws.send("tick")


# WebSocket only, with its own options; plain HTTP gets 426
@app.websocket("/rooms/<room>", subprotocols=["chat.v1"], max_message_size=4096)
def room(ws, room):
    for message in ws:
        ws.send(f"[{room}] {message}")


# WebSocket requests to any other path go to the event callbacks
def on_message(message, ws):
    ws.send(message.upper())


app.onmessage += on_message


def main() -> None:
    parser = argparse.ArgumentParser(description="WSocketApp routing example")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app.run(args.host, args.port)


if __name__ == "__main__":
    main()
