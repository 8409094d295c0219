"""Static files demo: the files of ``public/`` and three small routes.

Run it, then open http://127.0.0.1:8000/ ::

    python examples/static_demo/serve.py --port 8000

* ``/`` and every other path: the files of ``public/`` (``StaticFiles``);
* ``/download/<name>``: a file of ``public/`` as an attachment
  (``serve_static`` called from a route);
* ``/upload``: a ``multipart/form-data`` form, answered in JSON;
* ``/echo``: what ``Request`` decoded from the request, in JSON.
"""

from __future__ import annotations

import argparse
import json
import os

from wsocket import run
from wsocket.request import Request, RequestError
from wsocket.static import StaticFiles, serve_static

PUBLIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "public")

# The whole directory, with a one-minute cache lifetime.
files = StaticFiles(PUBLIC, max_age=60)


def send_json(start_response, data, status="200 OK"):
    body = json.dumps(data).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
    ]
    start_response(status, headers)
    return [body]


def download(environ, start_response):
    # request.path is /download/<name>; the name is relative to PUBLIC and
    # serve_static refuses anything that would leave it.
    name = Request(environ).path[len("/download/") :]
    response = serve_static(environ, PUBLIC, name)
    if response.status_code in (200, 206):
        response.headers.append(("Content-Disposition", "attachment"))
    return response(environ, start_response)


def upload(environ, start_response):
    request = Request(environ, max_body_size=4 * 2**20)
    if request.method != "POST":
        return send_json(
            start_response, {"error": "POST a form"}, "405 Method Not Allowed"
        )
    uploaded = [
        {"field": field, "filename": file.filename, "size": file.size}
        for field, file in request.files.allitems()
    ]
    return send_json(
        start_response, {"title": request.form.get("title", ""), "files": uploaded}
    )


def echo(environ, start_response):
    request = Request(environ)
    data = {
        "method": request.method,
        "url": request.url,
        "path": request.path,
        "query": {key: request.query.getall(key) for key in request.query},
        "headers": dict(request.headers),
        "cookies": request.cookies,
        "remote_addr": request.remote_addr,
    }
    return send_json(start_response, data)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    try:
        if path.startswith("/download/"):
            return download(environ, start_response)
        if path == "/upload":
            return upload(environ, start_response)
        if path == "/echo":
            return echo(environ, start_response)
    except RequestError as exc:
        # BadRequest (400) or RequestTooLarge (413): tell the client why.
        status = f"{exc.status} {exc.reason}"
        return send_json(start_response, {"error": exc.message}, status)
    return files(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser(description="wsocket static files demo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    run(app, args.host, args.port)


if __name__ == "__main__":
    main()
