"""Errors in a WSocketApp: abort(), HTTPError, custom error pages, debug::

python examples/app_errors.py --port 8000          # tracebacks only in the log
python examples/app_errors.py --port 8000 --debug  # ... and on 500 pages
"""

from __future__ import annotations

import argparse

from wsocket.app import WSocketApp
from wsocket.responses import HTTPError, abort, json_response

app = WSocketApp()

USERS = {1: "ada", 2: "alan"}


@app.route("/users/<int:user_id>")
def user(user_id):
    if user_id not in USERS:
        abort(404)  # the same as: raise HTTPError(404)
    return USERS[user_id]


@app.route("/admin")
def admin(request):
    if request.headers.get("Authorization") != "Bearer secret":
        raise HTTPError(401, "who are you?", {"WWW-Authenticate": "Bearer"})
    return "welcome"


@app.route("/crash")
def crash():
    return 1 / 0  # a 500 page, and the traceback on the "wsocket.app" logger


@app.error(404)
def not_found(error):
    # Sent with the error's status (404) unless it returns another one
    return "<h1>Nothing here</h1><p>Try <a href='/users/1'>/users/1</a>.</p>"


@app.error(500)
def server_error(request, error):
    # A custom 500 page replaces the default one, debug or not; the
    # exception and its formatted traceback are on the error.
    body = {"error": "internal", "kind": type(error.exception).__name__}
    if app.debug:
        body["traceback"] = error.traceback
    return json_response(body, 500)


def main() -> None:
    parser = argparse.ArgumentParser(description="WSocketApp errors example")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    app.debug = args.debug
    app.run(args.host, args.port)


if __name__ == "__main__":
    main()
