"""Flask with WebSockets: a chat page at ``/`` and its WebSocket at ``/echo``.

The Flask app stays an ordinary Flask app; only its WSGI callable is wrapped::

    app.wsgi_app = WebSocketMiddleware(app.wsgi_app)

Run it with wsocket's own server or with Flask's development server::

    python examples/flask_app/app.py --port 8000
    flask --app examples/flask_app/app run --port 8000
"""

from __future__ import annotations

import argparse

from flask import Flask, render_template, request

from wsocket import WebSocketMiddleware, run

app = Flask(__name__)
# Wrap app.wsgi_app rather than app, so that `flask run` and Flask's test
# client still find the Flask object under the name `app`.
app.wsgi_app = WebSocketMiddleware(app.wsgi_app)


@app.route("/")
def index():
    return render_template("index.html")


# websocket=True: werkzeug's router tells WebSocket requests from plain HTTP
# ones and matches this rule only for the former. Without it, Flask answers
# a WebSocket request with 400, and the client sees the socket close at once.
@app.route("/echo", websocket=True)
def echo():
    # The middleware completed the handshake before Flask saw the request and
    # left the open WebSocket in the WSGI environ.
    ws = request.environ["wsgi.websocket"]
    for message in ws:  # ends when the client closes
        ws.send(message)
    # Flask needs a return value; the middleware discards it, and closes the
    # WebSocket with 1000 if the client has not done so.
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description="Flask chat echo served by wsocket")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # Threads: each open WebSocket holds one. For gevent, see the deployment
    # docs (monkey-patch before Flask is imported).
    run(app, args.host, args.port, server="threading")


if __name__ == "__main__":
    main()
