"""What a WSocketApp handler may return, and the forgiving start_response::

python examples/app_responses.py --port 8000
"""

from __future__ import annotations

import argparse
import os
from http import HTTPStatus

from wsocket.app import WSocketApp
from wsocket.responses import Response, json_response

HERE = os.path.dirname(os.path.abspath(__file__))

app = WSocketApp()


@app.route("/text")
def text():
    return "héllo"  # str: UTF-8, text/html, Content-Length set


@app.route("/bytes")
def raw():
    return Response(b"\x89PNG...", content_type="image/png")


@app.route("/parts")
def parts():
    return ["<p>", b"mixed ", "parts", "</p>"]  # joined, length known


@app.route("/created")
def created():
    return Response("made it", 201, {"Location": "/items/7"})


@app.route("/api/status")
def status():
    return json_response({"ok": True, "users": ["ada", "alan"]})


@app.route("/countdown")
def countdown():
    def lines():
        for number in range(3, 0, -1):
            yield f"{number}...\n"  # sent as soon as it is produced
        yield "liftoff\n"

    return Response(lines(), content_type="text/plain; charset=utf-8")


@app.route("/source")
def source():
    # A file is read in blocks (or handed to the server's file_wrapper)
    return Response(
        open(os.path.join(HERE, "app_responses.py"), "rb"),
        content_type="text/plain; charset=utf-8",
    )


@app.route("/wsgi")
def wsgi_style(environ, start_response):
    # Any status and header form works: 202, "202", "202 Accepted",
    # HTTPStatus.ACCEPTED; headers as a dict, values converted with str().
    start_response(HTTPStatus.ACCEPTED, {"X-Items": 3})
    return [b"accepted"]


def main() -> None:
    parser = argparse.ArgumentParser(description="WSocketApp responses example")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app.run(args.host, args.port)


if __name__ == "__main__":
    main()
