"""wsocket.app: WSocketApp routing, calling conventions, responses, errors,
WebSocket routes and events.

HTTP goes through WebTest, whose lint middleware checks every exchange
against PEP 3333; WebSockets through wsocket.testing.TestClient; streaming
and cut responses over real sockets, with wsocket's own server in a thread.
"""

from __future__ import annotations

import http
import importlib.util
import logging
import os
import socket
import sys
import threading
from typing import Any, List

import pytest
import webtest
from helpers import serving

import wsocket
from wsocket.app import EventHook, Route, WSocketApp, calling_style
from wsocket.exceptions import HandshakeError
from wsocket.middleware import WebSocketMiddleware
from wsocket.request import Request
from wsocket.responses import HTTPError, Response, abort, json_response
from wsocket.testing import TestClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
TIMEOUT = 10.0


def web(app: Any) -> webtest.TestApp:
    return webtest.TestApp(app)


def app_errors(caplog) -> List[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "wsocket.app" and record.levelno >= logging.ERROR
    ]


def raw_request(port: int, target: str, method: str = "GET") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    return sock


def read_until(sock: socket.socket, data: bytes, marker: bytes) -> bytes:
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


# -- routing ----------------------------------------------------------------------


@pytest.fixture
def routed() -> WSocketApp:
    app = WSocketApp()

    @app.route("/")
    def index():
        return "index"

    @app.route("/users/<name>")
    def user(name):
        return f"user {name}"

    @app.route("/users/new")
    def new_user():
        return "new user form"

    @app.route("/items/<int:item_id>")
    def item(item_id):
        return f"item {item_id + 1}"

    @app.route("/scale/<float:factor>")
    def scale(factor):
        return f"scale {factor * 2}"

    @app.route("/files/<path:rest>")
    def files(rest):
        return f"file {rest}"

    @app.route("/static/*")
    def static(environ, start_response):
        return f"static {environ['PATH_INFO']}"

    @app.route("/static/deep/*")
    def deeper(environ, start_response):
        return f"deeper {environ['PATH_INFO']}"

    @app.route("/report/<int:year>.csv")
    def report(year):
        return f"report {year}"

    return app


@pytest.mark.parametrize(
    "path,body",
    [
        ("/", "index"),
        ("/users/ada", "user ada"),
        ("/users/new", "new user form"),  # exact before parameter
        ("/items/41", "item 42"),
        ("/scale/1.5", "scale 3.0"),
        ("/files/a/b/c.txt", "file a/b/c.txt"),
        ("/static/a.css", "static /static/a.css"),
        ("/static/deep/x/y", "deeper /static/deep/x/y"),  # longest prefix
        ("/static/deeper", "static /static/deeper"),
        ("/report/2024.csv", "report 2024"),
    ],
)
def test_routes(routed, path, body):
    assert web(routed).get(path).text == body


@pytest.mark.parametrize(
    "path", ["/nope", "/users/", "/users/a/b", "/items/x", "/items/1.5", "/static"]
)
def test_unknown_path_is_a_clear_404(routed, path):
    response = web(routed).get(path, status=404)
    assert response.content_type == "text/html"
    assert "<h1>404 Not Found</h1>" in response.text
    assert f"No page or WebSocket at {path}." in response.text


def test_404_page_escapes_the_path():
    response = web(WSocketApp()).get("/<script>alert(1)</script>", status=404)
    assert "<script>" not in response.text
    assert "/&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_wrong_method_is_405_with_allow(routed):
    app = WSocketApp()

    @app.route("/notes", methods=["POST", "PUT"])
    def notes():
        return "saved"

    @app.route("/page")
    def page():
        return "page"

    response = web(app).get("/notes", status=405)
    assert response.headers["Allow"] == "OPTIONS, POST, PUT"
    assert "GET is not allowed at /notes" in response.text
    response = web(app).post("/page", status=405)
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert web(app).put("/notes", status=200).text == "saved"


def test_head_is_answered_for_get_routes():
    closed = []
    app = WSocketApp()

    @app.route("/text")
    def text():
        return "héllo"

    @app.route("/wsgi")
    def wsgi(environ, start_response):
        start_response(200, [("Content-Type", "text/plain")])
        return [b"12345"]

    @app.route("/stream")
    def stream():
        def chunks():
            try:
                yield b"x"
                yield b"y"
            except GeneratorExit:
                closed.append(True)
                raise

        return chunks()

    client = web(app)
    for path in ("/text", "/wsgi"):
        get = client.get(path)
        head = client.head(path)
        assert head.status == get.status
        assert head.body == b""
        assert head.headers["Content-Length"] == get.headers["Content-Length"]
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert client.head("/stream").body == b""
    assert closed == [True]


def test_explicit_head_route_wins_over_automatic_head():
    app = WSocketApp()

    @app.route("/x")
    def get_x():
        return "get"

    @app.route("/x", methods="HEAD")
    def head_x(environ, start_response):
        start_response(200, {"X-Head": "yes"})
        return []

    assert web(app).head("/x").headers["X-Head"] == "yes"
    assert web(app).get("/x").text == "get"


def test_options_answers_204_with_allow():
    app = WSocketApp()
    seen = []

    @app.route("/a", methods=["GET", "DELETE"])
    def a():
        return "a"

    @app.route("/b", methods=["OPTIONS"])
    def b(environ, start_response):
        seen.append(environ["REQUEST_METHOD"])
        start_response(200, {"Allow": "OPTIONS", "X-Own": "1"})
        return []

    response = web(app).options("/a", status=204)
    assert response.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"
    assert response.body == b""
    assert web(app).options("/b").headers["X-Own"] == "1"
    assert seen == ["OPTIONS"]
    web(app).options("/missing", status=404)


def test_methods_forms():
    app = WSocketApp()

    @app.route("/one", methods="post")
    def one():
        return "one"

    @app.route("/many", methods=("get", "Patch"))
    def many():
        return "many"

    @app.route("/any", methods="*")
    def any_method(environ, start_response):
        return environ["REQUEST_METHOD"]

    client = web(app)
    assert client.post("/one").text == "one"
    client.get("/one", status=405)
    assert client.patch("/many").text == "many"
    for method in ("GET", "POST", "DELETE", "OPTIONS", "PATCH"):
        assert client.request("/any", method=method).text == method
    assert app.routes[2].methods is None
    assert app.routes[1].methods == frozenset(("GET", "PATCH"))

    for bad in (["GE T"], ["GET\r\n"], [""], []):
        with pytest.raises(ValueError):
            app.add_route("/bad", one, bad)


def test_same_path_different_methods_and_fallthrough():
    app = WSocketApp()

    @app.route("/x")
    def read():
        return "read"

    @app.route("/x", methods="POST")
    def write():
        return "write"

    @app.route("/f/*")
    def files(environ, start_response):
        return "wildcard"

    @app.route("/f/<name>", methods="POST")
    def upload(name):
        return f"upload {name}"

    client = web(app)
    assert client.get("/x").text == "read"
    assert client.post("/x").text == "write"
    assert client.get("/f/a").text == "wildcard"
    assert client.post("/f/a").text == "upload a"
    response = client.delete("/f/a", status=405)
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_non_ascii_paths_are_decoded_from_utf8():
    app = WSocketApp()

    @app.route("/café/<name>")
    def cafe(name):
        return f"{name}!"

    assert web(app).get("/caf%C3%A9/th%C3%A9").text == "thé!"
    # Not UTF-8: no text route can match.
    web(app).get("/caf%E9/x", status=404)


def test_routing_args_in_environ():
    app = WSocketApp()
    seen: List[Any] = []

    @app.route("/u/<int:uid>/<name>")
    def user(environ, start_response, **params):
        seen.append((environ["wsgiorg.routing_args"], params))
        return "ok"

    web(app).get("/u/7/ada")
    assert seen == [(((), {"uid": 7, "name": "ada"}), {"uid": 7, "name": "ada"})]


def test_empty_path_info_is_the_root():
    app = WSocketApp()

    @app.route("/")
    def index():
        return "root"

    responses: List[Any] = []

    def start_response(status, headers, exc_info=None):
        responses.append(status)

    body = app({"REQUEST_METHOD": "GET", "PATH_INFO": ""}, start_response)
    assert b"".join(body) == b"root" and responses == ["200 OK"]


# -- calling conventions ----------------------------------------------------------


def test_calling_conventions():
    app = WSocketApp()

    @app.route("/wsgi/<name>")
    def wsgi(environ, start_response, name):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"wsgi {name} {environ['REQUEST_METHOD']}".encode()]

    @app.route("/request/<name>")
    def with_request(request, name):
        return f"request {name} {request.method} {request.params['name']}"

    @app.route("/annotated/<name>")
    def annotated(req: Request, name):
        return f"annotated {type(req).__name__} {name}"

    @app.route("/kwargs/<a>/<int:b>")
    def kwargs(**params):
        return f"kwargs {sorted(params.items())}"

    @app.route("/named/<a>")
    def named(a):
        return f"named {a}"

    @app.route("/none")
    def none():
        return "none"

    client = web(app)
    assert client.get("/wsgi/x").text == "wsgi x GET"
    assert client.get("/request/x").text == "request x GET x"
    assert client.get("/annotated/x").text == "annotated Request x"
    assert client.get("/kwargs/x/2").text == "kwargs [('a', 'x'), ('b', 2)]"
    assert client.get("/named/x").text == "named x"
    assert client.get("/none").text == "none"
    assert [route.style for route in app.routes] == [
        "wsgi",
        "request",
        "request",
        "params",
        "params",
        "params",
    ]


def test_calling_style_detection():
    def wsgi(environ, start_response):
        pass

    def request(request):
        pass

    def annotated_class(r: Request):
        pass

    def annotated_text(r: Request):
        pass

    def other_class(r: http.HTTPStatus):
        pass

    # This module's annotations are strings; give some the classes.
    annotated_class.__annotations__["r"] = Request
    annotated_text.__annotations__["r"] = "wsocket.request.Request"
    other_class.__annotations__["r"] = http.HTTPStatus

    def bare(name):
        pass

    def nothing():
        pass

    class App:
        def __call__(self, environ, start_response):
            pass

    assert calling_style(wsgi) == "wsgi"
    assert calling_style(App()) == "wsgi"
    assert calling_style(request) == "request"
    assert calling_style(annotated_class) == "request"
    assert calling_style(annotated_text) == "request"
    assert calling_style(other_class) == "params"
    assert calling_style(bare) == "params"
    assert calling_style(nothing) == "params"
    assert calling_style(len) == "params"


def test_a_wsgi_app_object_can_be_a_handler():
    inner = WSocketApp()

    @inner.route("/sub/<name>")
    def sub(name):
        return f"inner {name}"

    outer = WSocketApp()
    outer.add_route("/sub/*", inner)
    assert web(outer).get("/sub/x").text == "inner x"


def test_handler_that_cannot_take_the_parameters_is_refused_at_registration():
    app = WSocketApp()

    def wrong(user_id):
        return "x"

    with pytest.raises(TypeError) as info:
        app.add_route("/users/<name>", wrong)
    message = str(info.value)
    assert "wrong()" in message and "'/users/<name>'" in message
    assert "handler(name=...)" in message
    with pytest.raises(
        TypeError, match=r"handler\(environ, start_response, x=\.\.\.\)"
    ):
        app.add_route("/a/<x>", lambda environ, start_response: None)
    with pytest.raises(TypeError, match=r"handler\(ws, x=\.\.\.\)"):
        app.add_websocket("/b/<x>", lambda ws: None)
    # Nothing was registered.
    assert app.routes == [] and len(app.router) == 0
    web(app).get("/users/x", status=404)


def test_registration_errors():
    app = WSocketApp()
    with pytest.raises(TypeError, match="must be callable"):
        app.add_route("/x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be callable"):
        app.add_websocket("/x", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="starting with '/'"):
        app.add_route("x", lambda: "x")
    with pytest.raises(ValueError, match="unknown converter 'uuid'"):
        app.add_route("/x/<uuid:id>", lambda id: "x")
    with pytest.raises(ValueError, match="cannot reach the WebSocket"):
        app.add_route("/x", lambda: "x", websocket=True)
    assert app.routes == []


def test_decorators_return_the_function_and_routes_are_listed():
    app = WSocketApp()

    def handler():
        return "x"

    def ws_handler(ws):
        pass

    assert app.route("/a")(handler) is handler
    assert app.websocket("/b")(ws_handler) is ws_handler
    assert app.error(404)(handler) is handler
    assert [route.pattern for route in app.routes] == ["/a", "/b"]
    assert all(isinstance(route, Route) for route in app.routes)
    assert repr(app.routes[0]) == "<Route GET '/a' -> " + handler.__qualname__ + ">"
    assert "websocket" in repr(app.routes[1])
    assert repr(app) == "<WSocketApp 2 routes>"


def test_custom_converter_through_the_router():
    app = WSocketApp()
    app.router.add_converter("hex", "[0-9a-f]+", lambda text: int(text, 16))

    @app.route("/c/<hex:value>")
    def color(value):
        return str(value)

    assert web(app).get("/c/ff").text == "255"


# -- start_response forms ---------------------------------------------------------


def with_start(*args: Any, body: Any = (b"body",)) -> WSocketApp:
    app = WSocketApp()

    @app.route("/")
    def handler(environ, start_response):
        start_response(*args)
        return body

    return app


@pytest.mark.parametrize(
    "status,line",
    [
        (201, "201 Created"),
        (http.HTTPStatus.ACCEPTED, "202 Accepted"),
        ("203", "203 Non-Authoritative Information"),
        ("200 OK", "200 OK"),
        ("200 All Good", "200 All Good"),
        (299, "299 Success"),
        ("499", "499 Client Error"),
        (598, "598 Server Error"),
        (404, "404 Not Found"),
    ],
)
def test_start_response_status_forms(status, line):
    response = web(with_start(status)).get("/", expect_errors=True)
    assert response.status == line


@pytest.mark.parametrize(
    "status", [99, 600, "abc", "20", "2000 OK", "200 O\r\nK", None]
)
def test_bad_status_is_logged_and_answered_500(caplog, status):
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        response = web(with_start(status)).get("/", status=500)
    assert "<h1>500 Internal Server Error</h1>" in response.text
    (record,) = app_errors(caplog)
    assert record.exc_info is not None and record.exc_info[0] is ValueError


@pytest.mark.parametrize(
    "headers",
    [
        [("X-A", "1"), ("X-B", "2")],
        (("X-A", "1"), ("X-B", "2")),
        {"X-A": 1, "X-B": 2},
        iter([("X-A", 1), ("X-B", b"2")]),
    ],
    ids=["list", "tuple", "dict", "iterator"],
)
def test_start_response_header_forms(headers):
    response = web(with_start(200, headers)).get("/")
    assert response.headers["X-A"] == "1"
    assert response.headers["X-B"] == "2"


def test_start_response_multidict_headers():
    from webob.multidict import MultiDict

    headers = MultiDict([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    response = web(with_start(200, headers)).get("/")
    assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
    response = web(with_start(200, {"Set-Cookie": ["a=1", "b=2"]})).get("/")
    assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]


def test_start_response_without_arguments_or_never_called():
    response = web(with_start()).get("/")
    assert response.status == "200 OK"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.body == b"body"

    app = WSocketApp()

    @app.route("/")
    def never(environ, start_response):
        return [b"no start_response"]

    @app.route("/gen")
    def never_gen(environ, start_response):
        yield b"generated"

    response = web(app).get("/")
    assert response.status == "200 OK"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Length"] == "17"
    assert web(app).get("/gen").body == b"generated"


@pytest.mark.parametrize(
    "header",
    [
        ("X-Evil", "a\r\nSet-Cookie: session=stolen"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil", "a\x00b"),
        ("X Evil", "a"),
        ("X-Evil:", "a"),
        ("", "a"),
    ],
)
def test_bad_header_is_refused_logged_and_never_sent(caplog, header):
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        response = web(with_start(200, [header, ("X-Good", "1")])).get("/", status=500)
    assert "X-Good" not in response.headers
    assert "X-Evil" not in response.headers and "Set-Cookie" not in response.headers
    assert b"stolen" not in response.body
    (record,) = app_errors(caplog)
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_bad_header_never_reaches_the_wire_of_a_real_server(caplog):
    app = with_start(200, [("X-Evil", "a\r\nSet-Cookie: session=stolen")])
    with caplog.at_level(logging.ERROR, logger="wsocket.app"), serving(app) as port:
        sock = raw_request(port, "/")
        data = read_until(sock, b"", b"</html>\n")
        sock.close()
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"stolen" not in data and b"X-Evil" not in data


def test_start_response_called_again_replaces_until_the_body_starts():
    app = WSocketApp()

    @app.route("/twice")
    def twice(environ, start_response):
        start_response(200, {"X-First": 1})
        start_response(202, {"X-Second": 2})
        return ["ok"]

    @app.route("/exc-info")
    def with_exc_info(environ, start_response):
        start_response(200, {"X-First": 1})
        try:
            raise RuntimeError("changed my mind")
        except RuntimeError:
            start_response(503, {"Retry-After": 5}, sys.exc_info())
        return ["later"]

    client = web(app)
    response = client.get("/twice", status=202)
    assert "X-First" not in response.headers and response.headers["X-Second"] == "2"
    response = client.get("/exc-info", status=503)
    assert response.headers["Retry-After"] == "5" and response.body == b"later"


def test_legacy_write_sends_at_once(caplog):
    app = WSocketApp()

    @app.route("/write")
    def write(environ, start_response):
        write = start_response(200, {"Content-Type": "text/plain"})
        write("first ")
        write(b"second ")
        return ["rest"]

    @app.route("/write-default")
    def write_default(environ, start_response):
        start_response()(b"x")
        return []

    @app.route("/after-write")
    def after_write(environ, start_response):
        start_response(200)(b"x")
        start_response(500)
        return []

    @app.route("/exc-after-write")
    def exc_after_write(environ, start_response):
        start_response(200)(b"x")
        try:
            raise KeyError("late")
        except KeyError:
            start_response(500, [], sys.exc_info())
        return []

    client = web(app)
    response = client.get("/write")
    assert response.body == b"first second rest"
    assert response.headers["Content-Type"] == "text/plain"
    assert client.get("/write-default").headers["Content-Type"] == (
        "text/html; charset=utf-8"
    )
    # Headers already sent: the error cannot become a 500 page, so it is
    # logged and raised for the server to cut the connection.
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        with pytest.raises(RuntimeError, match="after the response started"):
            client.get("/after-write")
        with pytest.raises(KeyError, match="late"):
            client.get("/exc-after-write")
    assert len(app_errors(caplog)) == 2
    assert "cut short" in app_errors(caplog)[0].getMessage()


def test_wsgi_generator_calls_start_response_late():
    app = WSocketApp()

    @app.route("/")
    def late(environ, start_response):
        start_response(201, {"X-Late": "yes"})
        yield "a"
        yield b"b"

    response = web(app).get("/", status=201)
    assert response.headers["X-Late"] == "yes"
    assert response.body == b"ab"


def test_wsgi_handler_returning_a_response_wins():
    app = WSocketApp()

    @app.route("/")
    def handler(environ, start_response):
        start_response(500, {"X-Ignored": 1})
        return Response("fine", 200, {"X-Kept": 1})

    response = web(app).get("/")
    assert response.body == b"fine" and response.headers["X-Kept"] == "1"
    assert "X-Ignored" not in response.headers


# -- bodies through handlers ------------------------------------------------------


def test_handler_return_forms():
    app = WSocketApp()
    returns = {
        "/str": "é",
        "/bytes": b"b",
        "/list": ["a", b"b"],
        "/none": None,
        "/response": Response("r", 201),
        "/json": json_response({"a": [1]}),
    }
    for path, value in returns.items():
        app.add_route(path, lambda value=value: value)
    client = web(app)
    assert client.get("/str").body == "é".encode()
    assert client.get("/str").headers["Content-Length"] == "2"
    assert client.get("/bytes").body == b"b"
    assert client.get("/list").body == b"ab"
    assert client.get("/none").body == b""
    assert client.get("/response", status=201).body == b"r"
    assert client.get("/json").json == {"a": [1]}


def test_returning_a_dict_sends_json():
    app = WSocketApp()

    @app.route("/")
    def handler():
        return {"a": 1, "name": "Ada"}

    @app.route("/list")
    def chunks():
        return ["a", "b"]

    response = web(app).get("/", status=200)
    assert response.content_type == "application/json"
    assert response.json == {"a": 1, "name": "Ada"}
    assert web(app).get("/list").body == b"ab"


@pytest.mark.parametrize("debug", [False, True])
def test_returning_a_list_of_dicts_is_a_clear_500(caplog, debug):
    app = WSocketApp(debug=debug)

    @app.route("/")
    def handler():
        return [{"a": 1}]

    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        response = web(app).get("/", status=500)
    (record,) = app_errors(caplog)
    hint = "to send JSON, return wsocket.json_response(data)"
    assert hint in str(record.exc_info[1])
    assert (hint in response.text) is debug


def test_close_is_always_called():
    events: List[str] = []
    app = WSocketApp()

    class Body:
        def __iter__(self):
            return iter([b"custom"])

        def close(self):
            events.append("custom closed")

    @app.route("/custom")
    def custom():
        return Body()

    @app.route("/gen")
    def gen():
        try:
            yield "a"
            yield "b"
        except GeneratorExit:
            events.append("GeneratorExit")
            raise
        finally:
            events.append("gen finally")

    client = web(app)
    assert client.get("/custom").body == b"custom"
    assert events == ["custom closed"]
    del events[:]
    assert client.get("/gen").body == b"ab"
    assert events == ["gen finally"]
    del events[:]
    client.head("/gen")
    assert events == ["GeneratorExit", "gen finally"]


def test_generator_streams_chunk_by_chunk_over_a_real_socket():
    gate = threading.Event()
    app = WSocketApp()

    @app.route("/slow")
    def slow():
        def chunks():
            yield "first chunk"
            # The client must see the first chunk while this one waits: a
            # buffered response would never get there.
            assert gate.wait(TIMEOUT)
            yield "second chunk"

        return Response(chunks(), content_type="text/plain")

    with serving(app) as port:
        sock = raw_request(port, "/slow")
        head_and_first = read_until(sock, b"", b"first chunk")
        assert b"first chunk" in head_and_first
        assert b"second chunk" not in head_and_first
        assert b"Transfer-Encoding: chunked" in head_and_first
        gate.set()
        rest = read_until(sock, head_and_first, b"0\r\n\r\n")
        sock.close()
    assert b"second chunk" in rest and rest.endswith(b"0\r\n\r\n")


def test_failure_while_streaming_cuts_the_response_on_a_real_server(caplog):
    app = WSocketApp()

    @app.route("/broken")
    def broken():
        yield "first"
        raise RuntimeError("the stream broke")

    with caplog.at_level(logging.ERROR, logger="wsocket.app"), serving(app) as port:
        sock = raw_request(port, "/broken")
        data = read_to_eof(sock)
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Transfer-Encoding: chunked" in head
    assert body.startswith(b"5\r\nfirst\r\n")
    assert not body.endswith(b"0\r\n\r\n")  # no terminating chunk: cut short
    (record,) = app_errors(caplog)
    assert "cut short" in record.getMessage()
    assert "the stream broke" in str(record.exc_info[1])


# -- errors -----------------------------------------------------------------------


def crashing_app(debug: bool) -> WSocketApp:
    app = WSocketApp(debug=debug)

    @app.route("/crash")
    def crash():
        raise ValueError("secret <b>detail</b>")

    return app


def test_exception_is_a_500_page_and_a_logged_traceback(caplog):
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        response = web(crashing_app(False)).get("/crash", status=500)
    assert "<h1>500 Internal Server Error</h1>" in response.text
    assert "secret" not in response.text and "Traceback" not in response.text
    (record,) = app_errors(caplog)
    assert (
        record.getMessage()
        == "error in handler crashing_app.<locals>.crash for GET /crash"
    )
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_debug_page_shows_the_escaped_traceback(caplog):
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        response = web(crashing_app(True)).get("/crash", status=500)
    assert "Traceback (most recent call last):" in response.text
    assert "secret &lt;b&gt;detail&lt;/b&gt;" in response.text
    assert "<b>detail</b>" not in response.text
    assert len(app_errors(caplog)) == 1


def test_http_error_raised_or_returned():
    app = WSocketApp()

    @app.route("/raised")
    def raised():
        raise HTTPError(409, "conflict!", {"X-Why": "busy"})

    @app.route("/returned")
    def returned():
        return HTTPError(410)

    @app.route("/aborted")
    def aborted():
        abort(404)

    @app.route("/wsgi-abort")
    def wsgi_abort(environ, start_response):
        abort(403, "no")

    client = web(app)
    response = client.get("/raised", status=409)
    assert response.body == b"conflict!" and response.headers["X-Why"] == "busy"
    assert "410 Gone" in client.get("/returned", status=410).text
    assert "404 Not Found" in client.get("/aborted", status=404).text
    assert client.get("/wsgi-abort", status=403).body == b"no"


def test_error_handler_calling_conventions():
    app = WSocketApp()
    seen: List[Any] = []

    @app.route("/e/<int:code>")
    def fail(code):
        abort(code, "original")

    @app.error(404)
    def keyword(error):
        seen.append(error)
        return f"custom 404 for {error.status}"

    @app.error(400)
    def positional(e):
        return f"positional {e.status_code}"

    @app.error(401)
    def nothing():
        return "nothing"

    @app.error(402)
    def wsgi(environ, start_response):
        start_response(402, {"X-Wsgi": 1})
        return [f"wsgi {environ['wsocket.error'].status_code}".encode()]

    @app.error(403)
    def with_request(request, error):
        return f"request {request.path} {error.status_code}"

    @app.error(409)
    def request_only(request):
        return f"request only {request.path}"

    @app.error(410)
    def wsgi_with_error(environ, start_response, error):
        return [f"wsgi+error {error.body}".encode()]

    client = web(app)
    assert client.get("/e/404", status=404).text == "custom 404 for 404 Not Found"
    assert isinstance(seen[0], HTTPError) and seen[0].body == "original"
    assert client.get("/nothing/here", status=404).text == (
        "custom 404 for 404 Not Found"
    )
    assert client.get("/e/400", status=400).text == "positional 400"
    assert client.get("/e/401", status=401).text == "nothing"
    response = client.get("/e/402", status=402)
    assert response.text == "wsgi 402" and response.headers["X-Wsgi"] == "1"
    assert client.get("/e/403", status=403).text == "request /e/403 403"
    assert client.get("/e/409", status=409).text == "request only /e/409"
    assert client.get("/e/410", status=410).text == "wsgi+error original"


def test_error_handlers_keep_allow_and_upgrade():
    app = WSocketApp()

    @app.route("/post", methods="POST")
    def post():
        return "x"

    @app.websocket("/ws")
    def ws(ws):
        pass

    @app.error(405)
    def not_allowed(error):
        return "custom 405"

    @app.error(426)
    def upgrade(environ, start_response):
        start_response(426, {"X-Custom": 1})
        return ["custom 426"]

    client = web(app)
    response = client.get("/post", status=405)
    assert response.text == "custom 405"
    assert response.headers["Allow"] == "OPTIONS, POST"
    response = client.get("/ws", status=426)
    assert response.text == "custom 426"
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["X-Custom"] == "1"
    assert response.headers.getall("Content-Type") == ["text/html; charset=utf-8"]


def test_error_handler_may_choose_another_status():
    app = WSocketApp()

    @app.route("/old", methods="POST")
    def old():
        return "x"

    @app.error(405)
    def moved(error):
        return Response("see /new", 308, {"Location": "/new"})

    response = web(app).get("/old", status=308)
    assert response.headers["Location"] == "/new"
    assert "Allow" not in response.headers  # it belongs to the 405


def test_error_handler_for_500_gets_the_exception(caplog):
    app = WSocketApp()

    @app.route("/crash")
    def crash():
        raise KeyError("k")

    @app.error(500)
    def server_error(error):
        return json_response(
            {
                "kind": type(error.exception).__name__,
                "tb": "KeyError" in error.traceback,
            },
            500,
        )

    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        response = web(app).get("/crash", status=500)
    assert response.json == {"kind": "KeyError", "tb": True}
    assert len(app_errors(caplog)) == 1


def test_failing_error_handler_falls_back_to_the_default_page(caplog):
    app = WSocketApp()

    @app.error(404)
    def broken(error):
        raise RuntimeError("error handler bug")

    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        response = web(app).get("/missing", status=404)
    assert "<h1>404 Not Found</h1>" in response.text
    (record,) = app_errors(caplog)
    assert "error handler" in record.getMessage()
    assert "error handler bug" in str(record.exc_info[1])


def test_error_handler_registration_checks():
    app = WSocketApp()
    with pytest.raises(ValueError):
        app.error(999)
    with pytest.raises(TypeError, match="error 404"):
        app.error(404)(lambda a, b, c: None)

    @app.error(http.HTTPStatus.NOT_FOUND)
    def flexible(**kwargs):
        return f"kwargs {sorted(kwargs)}"

    assert web(app).get("/x", status=404).text == "kwargs ['error']"


def test_request_errors_become_client_errors():
    app = WSocketApp()

    @app.route("/json", methods="POST")
    def parse(request):
        return json_response(request.json)

    client = web(app)
    assert client.post("/json", '{"a": 1}').json == {"a": 1}
    response = client.post("/json", "{bad", status=400)
    assert "invalid JSON in the request body" in response.text
    response = client.post("/json", "x" * (2**20 + 1), status=413)
    assert "413" in response.text


# -- WebSocket routes -------------------------------------------------------------


@pytest.fixture
def ws_app() -> WSocketApp:
    app = WSocketApp(subprotocols=["app.v1"], max_message_size=1000)

    @app.websocket("/rooms/<room>/<int:seat>")
    def room(ws, room, seat):
        for message in ws:
            ws.send(f"{room}:{seat}:{message}:{ws.subprotocol}")

    @app.websocket("/big", max_message_size=None, subprotocols=["big.v2"])
    def big(ws):
        for message in ws:
            ws.send(str(len(message)))

    @app.route("/both")
    def both(environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is None:
            return "plain http"
        ws.send("over websocket")
        ws.receive()

    @app.route("/both-request")
    def both_request(request):
        if request.websocket is None:
            return "plain http"
        request.websocket.send(f"request {request.params}")

    @app.route("/post", methods="POST")
    def post(environ, start_response):
        return "posted"

    @app.route("/page", websocket=False)
    def page(environ, start_response):
        return "just a page"

    return app


def test_websocket_route_with_parameters(ws_app):
    with TestClient(ws_app).websocket_connect(
        "/rooms/lobby/3", subprotocols=["app.v1"]
    ) as ws:
        ws.send("hi")
        assert ws.receive(timeout=TIMEOUT) == "lobby:3:hi:app.v1"
    assert ws.close_code == 1000


def test_per_route_websocket_options_override_the_apps(ws_app):
    client = TestClient(ws_app)
    with client.websocket_connect("/big", subprotocols=["app.v1", "big.v2"]) as ws:
        assert ws.subprotocol == "big.v2"
        ws.send("x" * 5000)  # over the app's 1000, within the route's limit
        assert ws.receive(timeout=TIMEOUT) == "5000"
    with client.websocket_connect("/rooms/a/1", subprotocols=["big.v2"]) as ws:
        assert ws.subprotocol is None  # the app's list applies here
        ws.send("x" * 1001)
        assert ws.receive(timeout=TIMEOUT) is None
    assert ws.close_code == 1009
    big = next(route for route in ws_app.routes if route.pattern == "/big")
    assert big.websocket_options == {
        "subprotocols": ["big.v2"],
        "max_message_size": None,
    }
    assert big.middleware is not None and big.middleware.max_message_size is None


def test_websocket_options_are_checked():
    with pytest.raises(TypeError, match="unknown WebSocket option 'max_size'"):
        WSocketApp(max_size=10)
    with pytest.raises(ValueError, match="max_message_size"):
        WSocketApp(max_message_size=0)
    app = WSocketApp()
    with pytest.raises(TypeError, match="route '/x': unknown WebSocket option 'pings'"):
        app.websocket("/x", pings=1)(lambda ws: None)
    with pytest.raises(ValueError, match="compression"):
        app.route("/y", compression="brotli")(lambda environ, start_response: None)
    assert app.routes == []


def test_one_route_for_http_and_websocket(ws_app):
    client = TestClient(ws_app)
    assert web(ws_app).get("/both").text == "plain http"
    assert web(ws_app).get("/both-request").text == "plain http"
    with client.websocket_connect("/both") as ws:
        assert ws.receive(timeout=TIMEOUT) == "over websocket"
    with client.websocket_connect("/both-request") as ws:
        assert ws.receive(timeout=TIMEOUT) == "request {}"


@pytest.mark.parametrize(
    "path,status",
    [("/nowhere", 404), ("/rooms/a/x", 404), ("/post", 405)],
)
def test_upgrade_is_routed_before_the_handshake(ws_app, path, status):
    with pytest.raises(HandshakeError) as info:
        TestClient(ws_app).websocket_connect(path)
    assert info.value.status == status


def test_upgrade_refusals_over_a_real_server(ws_app):
    with serving(ws_app) as port:
        for path, status in (("/nowhere", 404), ("/post", 405)):
            with pytest.raises(HandshakeError) as info:
                wsocket.connect(f"ws://127.0.0.1:{port}{path}", timeout=TIMEOUT)
            assert info.value.status == status
        url = f"ws://127.0.0.1:{port}/rooms/x/1"
        with wsocket.connect(url, subprotocols=["app.v1"], timeout=TIMEOUT) as ws:
            ws.send("real")
            assert ws.receive(timeout=TIMEOUT) == "x:1:real:app.v1"


def test_plain_http_to_a_websocket_route_is_426(ws_app):
    response = web(ws_app).get("/rooms/a/1", status=426)
    assert response.headers["Upgrade"] == "websocket"
    assert "only accepts WebSocket connections" in response.text
    head = web(ws_app).head("/rooms/a/1", status=426)
    assert head.body == b"" and head.headers["Upgrade"] == "websocket"
    response = web(ws_app).post("/rooms/a/1", status=405)
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_upgrade_to_an_http_only_route_is_served_as_http(ws_app):
    with pytest.raises(HandshakeError) as info:
        TestClient(ws_app).websocket_connect("/page")
    assert info.value.status == 200


def test_websocket_handler_exception_closes_1011_and_is_logged(caplog):
    app = WSocketApp()

    @app.websocket("/boom")
    def boom(ws):
        ws.receive()
        raise RuntimeError("handler bug")

    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        with client.websocket_connect("/boom") as ws:
            ws.send("go")
            assert ws.receive(timeout=TIMEOUT) is None
    assert ws.close_code == 1011
    assert "handler bug" in str(ws.app_error)
    assert any(
        "error in WebSocket handler" in r.getMessage() and r.exc_info
        for r in app_errors(caplog)
    )


def test_abort_in_a_websocket_handler_closes_1008():
    app = WSocketApp()

    @app.websocket("/private")
    def private(ws):
        abort(403)

    @app.route("/wsgi-404")
    def wsgi_404(environ, start_response):
        start_response("404")
        return []

    @app.route("/bad-status")
    def bad_status(environ, start_response):
        start_response("oops")
        return []

    client = TestClient(app, raise_server_exceptions=False)
    with client.websocket_connect("/private") as ws:
        assert ws.receive(timeout=TIMEOUT) is None
    assert (ws.close_code, ws.close_reason) == (1008, "403 Forbidden")
    with client.websocket_connect("/wsgi-404") as ws:
        assert ws.receive(timeout=TIMEOUT) is None
    assert (ws.close_code, ws.close_reason) == (1008, "404 Not Found")
    with client.websocket_connect("/bad-status") as ws:
        assert ws.receive(timeout=TIMEOUT) is None
    assert ws.close_code == 1011


def test_websocket_generator_handler_runs_the_session():
    app = WSocketApp()

    @app.route("/gen")
    def gen(environ, start_response):
        ws = environ["wsgi.websocket"]
        for message in ws:
            ws.send(message[::-1])
            yield b""

    with TestClient(app).websocket_connect("/gen") as ws:
        ws.send("abc")
        assert ws.receive(timeout=TIMEOUT) == "cba"


def test_app_inside_an_outer_middleware_routes_after_the_handshake():
    app = WSocketApp()

    @app.websocket("/ws/<name>")
    def named(ws, name):
        ws.send(f"hello {name}")

    @app.route("/wsgi")
    def wsgi(environ, start_response):
        environ["wsgi.websocket"].send("wsgi")

    wrapped = WebSocketMiddleware(app)
    client = TestClient(wrapped)
    with client.websocket_connect("/ws/ada") as ws:
        assert ws.receive(timeout=TIMEOUT) == "hello ada"
    with client.websocket_connect("/wsgi") as ws:
        assert ws.receive(timeout=TIMEOUT) == "wsgi"
    with client.websocket_connect("/unknown") as ws:
        assert ws.receive(timeout=TIMEOUT) is None
    assert ws.close_code == 1008
    app.onmessage += lambda message, ws: ws.send(message + "!")
    with client.websocket_connect("/unknown") as ws:
        ws.send("events")
        assert ws.receive(timeout=TIMEOUT) == "events!"


# -- events -----------------------------------------------------------------------


def test_a_bare_app_is_an_echo_server():
    app = WSocketApp()
    with TestClient(app).websocket_connect("/any/path") as ws:
        ws.send("echo")
        assert ws.receive(timeout=TIMEOUT) == "echo"
        ws.send(b"\x00bin")
        assert ws.receive(timeout=TIMEOUT) == b"\x00bin"
    assert ws.close_code == 1000
    web(app).get("/any/path", status=404)  # HTTP: nothing to serve


def test_event_callbacks():
    app = WSocketApp()
    events: List[Any] = []

    def on_connect(ws):
        events.append("connect")
        ws.send("welcome")

    def on_message(message, ws):
        events.append(("message", message))
        ws.send(message.upper())

    def also(message, ws):
        events.append(("also", message))

    def on_close(ws):
        events.append(("close", ws.closed))

    app.onconnect += on_connect
    app.onmessage += on_message
    app.onmessage += also
    app.onclose += on_close
    assert list(app.onmessage) == [on_message, also] and len(app.onmessage) == 2

    with TestClient(app).websocket_connect("/chat") as ws:
        assert ws.receive(timeout=TIMEOUT) == "welcome"
        ws.send("hi")
        assert ws.receive(timeout=TIMEOUT) == "HI"
    assert events == ["connect", ("message", "hi"), ("also", "hi"), ("close", True)]

    app.onmessage -= also
    app.onmessage = lambda message, ws: ws.send("replaced")
    assert len(app.onmessage) == 1
    app.onconnect = None
    app.onclose = EventHook("onclose")
    del events[:]
    with TestClient(app).websocket_connect("/chat") as ws:
        ws.send("x")
        assert ws.receive(timeout=TIMEOUT) == "replaced"
    assert events == []
    with pytest.raises(TypeError, match="must be callable"):
        app.onclose += "nope"  # type: ignore[operator]
    assert "EventHook onmessage" in repr(app.onmessage)


def test_events_serve_unmatched_websockets_only_when_set():
    app = WSocketApp()

    @app.route("/")
    def index():
        return "index"

    client = TestClient(app)
    with pytest.raises(HandshakeError) as info:
        client.websocket_connect("/chat")
    assert info.value.status == 404  # routes and no callbacks: nothing to echo

    app.onmessage += lambda message, ws: ws.send(f"event {message}")
    with client.websocket_connect("/chat") as ws:
        ws.send("x")
        assert ws.receive(timeout=TIMEOUT) == "event x"


def test_event_callback_error_closes_1011_and_still_calls_onclose(caplog):
    app = WSocketApp()
    closed = []

    def on_message(message, ws):
        raise RuntimeError("callback bug")

    def on_close(ws):
        closed.append(ws.close_code)
        raise RuntimeError("onclose bug too")

    app.onmessage += on_message
    app.onclose += on_close
    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        with client.websocket_connect("/x") as ws:
            ws.send("boom")
            assert ws.receive(timeout=TIMEOUT) is None
    assert ws.close_code == 1011
    assert closed == [1011]
    messages = [record.getMessage() for record in app_errors(caplog)]
    assert any("event callback" in message for message in messages)
    assert any("onclose" in message for message in messages)


# -- static files, run(), examples ------------------------------------------------


def test_static_files(tmp_path):
    (tmp_path / "site.css").write_text("body {}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("nested")
    (tmp_path.parent / "secret.txt").write_text("secret")
    app = WSocketApp()
    route = app.static("/assets/", str(tmp_path))
    assert route.pattern == "/assets/*" and not route.websocket
    client = web(app)
    response = client.get("/assets/site.css")
    assert response.body == b"body {}" and response.content_type == "text/css"
    assert client.get("/assets/sub/a.txt").text == "nested"
    head = client.head("/assets/site.css")
    assert head.body == b"" and head.headers["Content-Length"] == "7"
    etag = response.headers["ETag"]
    client.get("/assets/site.css", headers={"If-None-Match": etag}, status=304)
    client.get("/assets/..%2Fsecret.txt", status=404)
    client.get("/assets/missing", status=404)
    client.post("/assets/site.css", status=405)


def test_run_calls_wsocket_run(monkeypatch):
    import wsocket.server

    calls = []
    monkeypatch.setattr(
        wsocket.server, "run", lambda *args, **kwargs: calls.append((args, kwargs))
    )
    app = WSocketApp()
    app.run()
    app.run("0.0.0.0", 9000, "threading", quiet=True)
    assert calls == [
        ((app, "127.0.0.1", 8080, "auto"), {}),
        ((app, "0.0.0.0", 9000, "threading"), {"quiet": True}),
    ]


def load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", os.path.join(EXAMPLES, f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_app_routing():
    app = load_example("app_routing").app
    client = web(app)
    assert client.get("/users/ada").json == {"user": "ada"}
    assert client.get("/items/42").json == {"item": 42}
    client.get("/items/x", status=404)
    assert client.get("/docs/guide/intro.html").json == {"page": "guide/intro.html"}
    assert client.get("/reports/2024.csv").text == "year,total\n2024,0\n"
    assert client.get("/legacy/a/b", status=410).text == "/legacy/a/b is gone"
    assert client.get("/notes", status=405).headers["Allow"] == "OPTIONS, POST, PUT"
    assert client.put("/notes", "text", status=201).json == {"saved": "text"}
    assert client.get("/clock").text == "open a WebSocket on this URL"
    client.get("/rooms/a", status=426)
    test = TestClient(app)
    with test.websocket_connect("/clock") as ws:
        assert ws.receive(timeout=TIMEOUT) == "tick"
    with test.websocket_connect("/rooms/lobby", subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
        ws.send("hi")
        assert ws.receive(timeout=TIMEOUT) == "[lobby] hi"
    with test.websocket_connect("/anything") as ws:
        ws.send("shout")
        assert ws.receive(timeout=TIMEOUT) == "SHOUT"


def test_example_app_responses():
    client = web(load_example("app_responses").app)
    assert client.get("/text").headers["Content-Length"] == "6"
    assert client.get("/bytes").content_type == "image/png"
    assert client.get("/parts").text == "<p>mixed parts</p>"
    assert client.get("/created", status=201).headers["Location"] == "/items/7"
    assert client.get("/api/status").json == {"ok": True, "users": ["ada", "alan"]}
    assert client.get("/countdown").text == "3...\n2...\n1...\nliftoff\n"
    source = client.get("/source")
    assert b"def source():" in source.body
    assert source.headers["Content-Length"] == str(
        os.path.getsize(os.path.join(EXAMPLES, "app_responses.py"))
    )
    response = client.get("/wsgi", status=202)
    assert response.headers["X-Items"] == "3" and response.body == b"accepted"


def test_example_app_errors(caplog):
    module = load_example("app_errors")
    client = web(module.app)
    assert client.get("/users/1").text == "ada"
    assert "Nothing here" in client.get("/users/9", status=404).text
    assert "Nothing here" in client.get("/nowhere", status=404).text
    response = client.get("/admin", status=401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/admin", headers={"Authorization": "Bearer secret"}).text == (
        "welcome"
    )
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        assert client.get("/crash", status=500).json == {
            "error": "internal",
            "kind": "ZeroDivisionError",
        }
        module.app.debug = True
        assert "ZeroDivisionError" in client.get("/crash", status=500).json["traceback"]
    assert len(app_errors(caplog)) == 2


def test_example_app_demo():
    module = load_example("app_demo")
    client = web(module.app)
    assert "<h1>wsocket demo</h1>" in client.get("/").text
    assert client.get("/hello/<b>").text == "<p>Hello, &lt;b&gt;!</p>"
    assert client.get("/api/items/3").json == {"id": 3, "name": "item 3"}
    assert client.get("/api/items/3000", status=404).json == {"error": "no item 3000"}
    response = client.post_json("/api/items", {"name": "new"}, status=201)
    assert response.json == {"created": {"name": "new"}}
    assert client.get("/stream").text == "".join(f"line {n}\n" for n in range(5))
    assert client.get("/static/hello.txt").text == "Hello from a static file.\n"
    client.get("/echo", status=426)
    with TestClient(module.app).websocket_connect("/echo") as ws:
        ws.send("demo")
        assert ws.receive(timeout=TIMEOUT) == "demo"


def test_module_exports():
    import wsocket.app
    import wsocket.responses
    import wsocket.routing

    assert set(wsocket.app.__all__) == {
        "WSocketApp",
        "Route",
        "EventHook",
        "calling_style",
    }
    assert {"Response", "HTTPError", "abort", "json_response", "to_wsgi"} <= set(
        wsocket.responses.__all__
    )
    assert set(wsocket.routing.__all__) == {
        "Converter",
        "Rule",
        "Router",
        "NoMatch",
        "BuildError",
        "build_path",
        "DEFAULT_CONVERTERS",
    }


def test_webtest_lint_accepts_the_frameworks_own_answers(ws_app):
    # WebTest's lint raises on any PEP 3333 breach; these are the answers
    # the app makes up itself rather than a handler.
    client = web(ws_app)
    client.get("/nope", status=404)
    client.head("/nope", status=404)
    client.get("/post", status=405)
    client.get("/rooms/a/1", status=426)
    client.options("/post", status=204)
    client.head("/both", status=200)


# -- the earlier wsocket package's API ------------------------------------------------


def test_seed_wildcards_match_every_path_starting_with_the_text():
    app = WSocketApp()

    @app.route("/hello*")
    def hello():
        return "hello*"

    @app.route("/hello/deep*")
    def deeper():
        return "deep*"

    client = web(app)
    for path in ("/hello", "/helloworld", "/hello/a/b"):
        assert client.get(path).text == "hello*", path
    assert client.get("/hello/deeper/x").text == "deep*"  # longest prefix wins
    client.get("/hell", status=404)
    client.get("/xhello", status=404)


def test_wildcard_precedence_longest_prefix_that_accepts_the_method():
    app = WSocketApp()

    @app.route("/api/*")
    def slash():
        return "/api/*"

    @app.route("/api/v*", methods="POST")
    def versioned():
        return "/api/v*"

    @app.route("/api/v1")
    def exact():
        return "exact"

    client = web(app)
    assert client.get("/api/v1").text == "exact"
    assert client.post("/api/v2").text == "/api/v*"
    # "/api/v*" is longer in characters than "/api/*" but takes POST only.
    assert client.get("/api/v2").text == "/api/*"


def test_wildcard_prefixes_that_accept_no_such_method_give_405():
    app = WSocketApp()

    @app.route("/up*", methods=["POST"])
    def upload():
        return "up"

    response = web(app).get("/upload", status=405)
    assert response.headers["Allow"] == "OPTIONS, POST"


def test_seed_constructor_and_class_attributes():
    assert WSocketApp.GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert WSocketApp.SUPPORTED_VERSIONS == ("13", "8", "7")
    assert WSocketApp.websocket_class is wsocket.WebSocket
    app = WSocketApp(None, None)
    assert app.app is None
    with pytest.raises(TypeError, match="must be a WSGI callable"):
        WSocketApp(app=42)


def test_protocol_offers_a_subprotocol():
    app = WSocketApp(protocol="WAMP")

    @app.websocket("/ws")
    def handler(ws):
        ws.send(ws.subprotocol or "none")

    client = TestClient(app)
    with client.websocket_connect("/ws", subprotocols=["WAMP"]) as ws:
        assert ws.subprotocol == "WAMP"
        assert ws.receive(timeout=TIMEOUT) == "WAMP"
    with client.websocket_connect("/ws", subprotocols=["other"]) as ws:
        assert ws.subprotocol is None


def test_fallback_app_serves_what_no_route_matches_websockets_included():
    def legacy(environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is not None:
            ws.send("legacy socket at " + environ["PATH_INFO"])
            return []
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"legacy " + environ["PATH_INFO"].encode()]

    app = WSocketApp(app=legacy)

    @app.route("/new")
    def new():
        return "new"

    client = web(app)
    assert client.get("/new").text == "new"
    assert client.get("/old/page").text == "legacy /old/page"
    with TestClient(app).websocket_connect("/old/ws") as ws:
        assert ws.receive(timeout=TIMEOUT) == "legacy socket at /old/ws"


def test_a_returned_none_without_start_response_is_a_500_that_says_so(caplog):
    app = WSocketApp()

    @app.route("/")
    def forgot(environ, start_response):
        return None

    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        web(app).get("/", status=500)
    (record,) = app_errors(caplog)
    message = record.getMessage()
    assert "forgot" in message and "returned None" in message


def test_a_websocket_handler_returning_none_is_normal():
    app = WSocketApp()

    @app.route("/")
    def handler(environ, start_response):
        ws = environ.get("wsgi.websocket")
        if not ws:
            start_response()
            return "Hello World!"
        ws.send("hi")
        return None

    assert web(app).get("/").text == "Hello World!"
    with TestClient(app).websocket_connect("/") as ws:
        assert ws.receive(timeout=TIMEOUT) == "hi"
        assert ws.receive(timeout=TIMEOUT) is None
        assert ws.close_code == 1000


# -- mounting -------------------------------------------------------------------------


def test_mount_moves_the_prefix_to_script_name():
    seen = []

    def inner(environ, start_response):
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"inner"]

    app = WSocketApp()
    app.mount("/blog", inner)
    app.mount("/blog/admin/", inner)
    client = web(app)
    client.get("/blog")
    client.get("/blog/posts/1")
    client.get("/blog/admin/users")
    client.get("/blogx", status=404)
    assert seen == [("/blog", ""), ("/blog", "/posts/1"), ("/blog/admin", "/users")]


def test_mounted_wsocket_app_routes_and_builds_urls_under_its_prefix():
    inner = WSocketApp()

    @inner.route("/users/<int:id>", name="user")
    def user(id):
        return inner.url_for("user", id=id + 1)

    @inner.websocket("/ws")
    def ws_handler(ws):
        ws.send("inner ws; next: " + inner.url_for("user", id=1))

    app = WSocketApp()

    @app.route("/users/<int:id>", name="user")
    def outer_user(id):
        return app.url_for("user", id=id)

    app.mount("/api", inner)
    client = web(app)
    assert client.get("/users/3").text == "/users/3"
    assert client.get("/api/users/3").text == "/api/users/4"
    assert web(inner).get("/users/3", extra_environ={"SCRIPT_NAME": "/x"}).text == (
        "/x/users/4"
    )
    with TestClient(app).websocket_connect("/api/ws") as ws:
        assert ws.receive(timeout=TIMEOUT) == "inner ws; next: /api/users/1"
    # Routes come before mounts; an unknown path below the mount is the
    # mounted app's 404.
    client.get("/api/nothing", status=404)


def test_mounted_plain_wsgi_app_gets_websockets():
    def chat(environ, start_response):
        ws = environ.get("wsgi.websocket")
        if ws is None:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"page"]
        for message in ws:
            ws.send(environ["SCRIPT_NAME"] + ":" + message)
        return []

    app = WSocketApp()
    app.mount("/chat", chat)
    assert web(app).get("/chat/").text == "page"
    with TestClient(app).websocket_connect("/chat/room") as ws:
        ws.send("hi")
        assert ws.receive(timeout=TIMEOUT) == "/chat:hi"


def test_mount_errors():
    app = WSocketApp()
    app.mount("/a", lambda e, s: [])
    with pytest.raises(ValueError, match="mounted already"):
        app.mount("/a/", lambda e, s: [])
    with pytest.raises(ValueError, match=r"WSocketApp\(app=\.\.\.\)"):
        app.mount("/", lambda e, s: [])
    with pytest.raises(ValueError, match="must start with '/'"):
        app.mount("a", lambda e, s: [])
    with pytest.raises(TypeError, match="must be a WSGI callable"):
        app.mount("/b", "not an app")  # type: ignore[arg-type]


def test_precedence_routes_wildcards_mounts_fallback_hooks_404():
    def named(label):
        def wsgi(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [label.encode()]

        return wsgi

    app = WSocketApp(app=named("fallback"))

    @app.route("/docs/<page>")
    def page(page):
        return "route"

    @app.route("/docs/*")
    def docs_wild():
        return "wildcard"

    app.mount("/docs", named("mount"))
    app.mount("/other", named("mount"))
    client = web(app)
    assert client.get("/docs/a").text == "route"
    assert client.get("/docs/a/b").text == "wildcard"
    assert client.get("/docs").text == "mount"
    assert client.get("/other/x").text == "mount"
    assert client.get("/elsewhere").text == "fallback"

    bare = WSocketApp()

    @bare.route("/page")
    def only():
        return "page"

    bare.onmessage = lambda message, ws: ws.send("hook:" + message)
    with TestClient(bare).websocket_connect("/unrouted") as ws:
        ws.send("x")
        assert ws.receive(timeout=TIMEOUT) == "hook:x"
    web(bare).get("/unrouted", status=404)


# -- names and url_for ----------------------------------------------------------------


def test_url_for_builds_paths_and_query_strings():
    app = WSocketApp()

    @app.route("/users/<int:id>/<name>")
    def user(id, name):
        return ""

    @app.route("/files/<path:rest>", name="file")
    def files(rest):
        return ""

    @app.route("/static/*", name="static")
    def static():
        return ""

    assert app.url_for("user", id=7, name="ada lovelace") == "/users/7/ada%20lovelace"
    assert app.url_for("user", id=7, name="a", tab="x y", n=[1, 2]) == (
        "/users/7/a?tab=x+y&n=1&n=2"
    )
    assert app.url_for("file", rest="a/b c.txt") == "/files/a/b%20c.txt"
    assert app.url_for("static", _rest="css/site.css") == "/static/css/site.css"
    with pytest.raises(wsocket.routing.BuildError, match="needs a value for 'name'"):
        app.url_for("user", id=7)
    with pytest.raises(wsocket.routing.BuildError, match="does not match <int:id>"):
        app.url_for("user", id="seven", name="a")
    with pytest.raises(wsocket.routing.BuildError, match="no route is named 'nope'"):
        app.url_for("nope")


def test_one_handler_on_two_paths_builds_the_one_that_fits():
    app = WSocketApp()

    @app.route("/items")
    @app.route("/items/<int:id>")
    def items(id=None):
        return ""

    assert app.url_for("items", id=3) == "/items/3"
    assert app.url_for("items") == "/items"


def test_a_route_name_taken_by_another_handler_is_refused():
    app = WSocketApp()

    @app.route("/a", name="home")
    def first():
        return ""

    with pytest.raises(ValueError, match="route name 'home' is taken by"):

        @app.route("/b", name="home")
        def second():
            return ""


# -- registering twice ----------------------------------------------------------------


def test_registering_the_same_method_and_path_twice_names_both_handlers():
    app = WSocketApp()

    @app.route("/x", methods=["GET", "POST"])
    def first():
        return ""

    with pytest.raises(ValueError) as info:

        @app.route("/x", methods="POST")
        def second():
            return ""

    message = str(info.value)
    assert "POST '/x' is registered twice" in message
    assert "first()" in message and "second()" in message
    # Nothing of the refused route was kept.
    assert [route.handler for route in app.routes] == [first]
    assert web(app).post("/x").status_int == 200


def test_registering_the_same_websocket_path_twice_is_refused():
    app = WSocketApp()

    @app.websocket("/ws")
    def first(ws):
        pass

    with pytest.raises(ValueError, match="the WebSocket route '/ws' is registered"):

        @app.websocket("/ws")
        def second(ws):
            pass


def test_an_http_page_and_a_websocket_route_share_a_path():
    app = WSocketApp()

    @app.route("/live")
    def page(environ, start_response):  # answers upgrades by default...
        start_response("200 OK", [])
        return [b"page"]

    @app.websocket("/live")
    def live(ws):  # ...until a WebSocket route claims the path
        ws.send("socket")

    @app.route("/other")
    def other_page(request):
        return "other page"

    @app.websocket("/other")
    def other_socket(ws):
        ws.send("other socket")

    @app.route("/other", "POST")
    def late_page(environ, start_response):  # registered after: HTTP only
        return [b"posted"]

    assert web(app).get("/live").text == "page"
    with TestClient(app).websocket_connect("/live") as ws:
        assert ws.receive(timeout=TIMEOUT) == "socket"
    with TestClient(app).websocket_connect("/other") as ws:
        assert ws.receive(timeout=TIMEOUT) == "other socket"
    assert web(app).post("/other").text == "posted"
    assert [r.websocket for r in app.routes] == [False, True, False, True, False]


def test_onconnect_and_onclose_also_fire_for_routed_sockets():
    app = WSocketApp()
    seen = []
    app.onconnect += lambda ws: seen.append(("connect", ws.environ["PATH_INFO"]))
    app.onclose += lambda ws: seen.append(("close", ws.environ["PATH_INFO"]))
    app.onmessage += lambda message, ws: seen.append(("unrouted message", message))

    @app.websocket("/routed")
    def routed(ws):
        seen.append(("handler", ws.receive(timeout=TIMEOUT)))

    client = TestClient(app)
    with client.websocket_connect("/routed") as ws:
        ws.send("hi")
    with client.websocket_connect("/elsewhere") as ws:
        ws.send("raw")
    assert seen == [
        ("connect", "/routed"),
        ("handler", "hi"),
        ("close", "/routed"),
        ("connect", "/elsewhere"),
        ("unrouted message", "raw"),
        ("close", "/elsewhere"),
    ]


def test_unrouted_sockets_keep_raw_binary_messages():
    app = WSocketApp()  # no route: echo
    with TestClient(app).websocket_connect("/any") as ws:
        ws.send(b"\x00\xff")
        assert ws.receive(timeout=TIMEOUT) == b"\x00\xff"
        ws.send("text")
        assert ws.receive(timeout=TIMEOUT) == "text"
