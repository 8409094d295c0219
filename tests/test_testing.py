"""Tests for wsocket.testing: TestClient over HTTP and WebSocket.

Apps run through ``wsgiref.validate.validator`` wherever they can, so that a
PEP 3333 violation by the client's environ or ``start_response`` (or by the
test apps) fails the test. The environ is also compared with the one the
reference server, ``wsgiref.simple_server``, builds for the same request.
"""

from __future__ import annotations

import gc
import http.client
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any, Callable, Optional
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.validate import validator

import pytest
from helpers import MS, ROOT_DIR, open_fds, wait_for

from wsocket import WebSocketMiddleware
from wsocket.exceptions import ConnectionClosedError, HandshakeError
from wsocket.testing import (
    ResponseHeaders,
    TestClient,
    TestResponse,
    TestWebSocket,
    WSGIViolation,
)

Environ = dict[str, Any]


# -- Test apps ----------------------------------------------------------------


def text_app(body: bytes = b"hello", status: str = "200 OK", **headers: str):
    """A validated app answering ``body`` with ``status`` and extra headers."""

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        response_headers = [("Content-Type", "text/plain; charset=utf-8")]
        response_headers += [(name.replace("_", "-"), v) for name, v in headers.items()]
        start_response(status, response_headers)
        return [body]

    return validator(app)


class Recorder:
    """A validated app that records each environ and answers JSON about it."""

    def __init__(self) -> None:
        self.environs: list[Environ] = []
        self.bodies: list[bytes] = []

    def app(self, environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        self.environs.append(dict(environ))
        length = environ.get("CONTENT_LENGTH")
        body = environ["wsgi.input"].read(int(length)) if length else b""
        self.bodies.append(body)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"path": environ["PATH_INFO"]}).encode()]

    @property
    def environ(self) -> Environ:
        return self.environs[-1]

    def client(self, **options: Any) -> TestClient:
        return TestClient(validator(self.app), **options)


class Body:
    """A WSGI body iterable that counts how often its close() is called.

    ``start``, when set, is called as iteration begins: an app that calls
    ``start_response`` from its body, as generators do.
    """

    def __init__(self, chunks: list[Any], fail_at: Optional[int] = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0
        self.produced = 0
        self.start: Optional[Callable[[], Any]] = None

    def __iter__(self) -> Iterator[Any]:
        if self.start is not None:
            self.start()
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("body failed")
            self.produced += 1
            yield chunk

    def close(self) -> None:
        self.closed += 1


def echo(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
    """WebSocket echo at any path; plain text over HTTP."""
    ws = environ.get("wsgi.websocket")
    if ws is None:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not a websocket"]
    for message in ws:
        ws.send(message)
    return []


def websocket_app(handler: Callable[[Any, Environ], None], **options: Any):
    """A validated middleware and app that runs ``handler(ws, environ)``."""

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        ws = environ.get("wsgi.websocket")
        if ws is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"WebSocket only"]
        handler(ws, environ)
        return []

    return validator(WebSocketMiddleware(validator(app), **options))


# -- HTTP: the environ --------------------------------------------------------


def reference_environ(method: str, target: str, headers: dict, body: bytes) -> Environ:
    """The environ wsgiref's server builds for one request sent over TCP."""
    seen: list[Environ] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        seen.append(dict(environ))
        start_response("204 No Content", [])
        return []

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    with make_server("127.0.0.1", 0, app, handler_class=QuietHandler) as server:
        thread = threading.Thread(target=server.handle_request, daemon=True)
        thread.start()
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders(body or None)
            conn.getresponse().read()
        finally:
            conn.close()
        thread.join(5)
    return seen[0]


COMPARED = [
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_PROTOCOL",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "HTTP_X_TOKEN",
    "HTTP_ACCEPT",
    "wsgi.url_scheme",
]


@pytest.mark.parametrize(
    "method, path, query, body",
    [
        ("GET", "/", None, None),
        ("GET", "/caf%C3%A9/x%2Fy", {"q": "café", "n": "1"}, None),
        ("POST", "/form", None, {"name": "Ada Lovelace", "lang": "fr"}),
        ("DELETE", "/a%20b/", [("k", "v"), ("k", "w")], None),
    ],
)
def test_environ_matches_the_reference_server(method, path, query, body):
    recorder = Recorder()
    client = recorder.client()
    headers = {"X-Token": "t0k", "Accept": "text/html"}
    client.request(method, path, query=query, headers=headers, data=body)
    ours = recorder.environ

    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    raw_body = urllib.parse.urlencode(body).encode() if body else b""
    sent = {"Host": "localhost", **headers}
    if body:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent["Content-Length"] = str(len(raw_body))
    reference = reference_environ(method, target, sent, raw_body)

    for key in COMPARED:
        if key.startswith("CONTENT_") and not body:
            # PEP 3333: "may be empty or absent". wsgiref sets them (and
            # 'text/plain' as the type); the client leaves them out.
            assert key not in ours
            continue
        assert ours.get(key) == reference.get(key), key
    assert recorder.bodies[-1] == raw_body


def test_environ_has_every_pep3333_key():
    recorder = Recorder()
    recorder.client().get("/")
    environ = recorder.environ
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/"
    assert environ["QUERY_STRING"] == ""
    assert environ["SERVER_NAME"] == "localhost"
    assert environ["SERVER_PORT"] == "80"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["HTTP_HOST"] == "localhost"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is False
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.run_once"] is False
    assert "CONTENT_LENGTH" not in environ  # no body: absent, as PEP 3333 allows
    assert "wsocket.take_over" not in environ


def test_base_url_sets_server_host_port_scheme_and_script_name():
    recorder = Recorder()
    client = recorder.client(base_url="https://example.com:8443/mount/")
    client.get("/page")
    environ = recorder.environ
    assert environ["SERVER_NAME"] == "example.com"
    assert environ["SERVER_PORT"] == "8443"
    assert environ["HTTP_HOST"] == "example.com:8443"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["SCRIPT_NAME"] == "/mount"
    assert environ["PATH_INFO"] == "/page"


@pytest.mark.parametrize("base_url", ["ftp://localhost", "localhost", "http://"])
def test_base_url_must_be_http(base_url):
    with pytest.raises(ValueError, match="base_url"):
        TestClient(echo, base_url=base_url)


def test_app_must_be_callable():
    with pytest.raises(TypeError):
        TestClient(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    ["/café/ü", "/caf%C3%A9/%C3%BC", "http://localhost/café/ü", "/café/ü#fragment"],
)
def test_non_ascii_path_is_latin1_of_utf8(path):
    recorder = Recorder()
    recorder.client().get(path)
    # PEP 3333: the bytes of the path, each as one latin-1 character.
    assert recorder.environ["PATH_INFO"] == "/café/ü".encode().decode("latin-1")
    assert recorder.environ["QUERY_STRING"] == ""


@pytest.mark.parametrize(
    "path, query, expected",
    [
        ("/", {"q": "café"}, "q=caf%C3%A9"),
        ("/", [("a", "1"), ("a", "2")], "a=1&a=2"),
        ("/", {"tag": ["x", "y"], "n": 3}, "tag=x&tag=y&n=3"),
        ("/?a=1&b=two%20words", None, "a=1&b=two%20words"),
        ("/?q=café", None, "q=caf%C3%A9"),
        ("/?a=1", {"b": "2"}, "a=1&b=2"),
    ],
)
def test_query_string_is_raw_and_utf8(path, query, expected):
    recorder = Recorder()
    recorder.client().get(path, query=query)
    assert recorder.environ["QUERY_STRING"] == expected
    assert recorder.environ["PATH_INFO"] == "/"


def test_query_string_decodes_back_to_unicode():
    recorder = Recorder()
    recorder.client().get("/search", query={"q": "naïve café ☕"})
    parsed = urllib.parse.parse_qs(recorder.environ["QUERY_STRING"])
    assert parsed == {"q": ["naïve café ☕"]}


def test_headers_become_http_keys_and_repeated_ones_are_joined():
    recorder = Recorder()
    recorder.client().get(
        "/",
        headers=[
            ("Accept", "text/html"),
            ("X-Trace", "a"),
            ("x-trace", "b"),
            ("Content-Type", "text/csv"),
        ],
    )
    environ = recorder.environ
    assert environ["HTTP_ACCEPT"] == "text/html"
    assert environ["HTTP_X_TRACE"] == "a, b"
    assert environ["CONTENT_TYPE"] == "text/csv"
    assert "HTTP_CONTENT_TYPE" not in environ


def test_host_header_overrides_the_base_url():
    recorder = Recorder()
    recorder.client().get("/", headers={"Host": "other.test"})
    assert recorder.environ["HTTP_HOST"] == "other.test"
    assert recorder.environ["SERVER_NAME"] == "localhost"


@pytest.mark.parametrize(
    "headers, error",
    [
        ({"Bad Name": "x"}, ValueError),
        ({"X-Split": "a\r\nInjected: 1"}, ValueError),
        ({"X-Wide": "☕"}, ValueError),
        ({"X-Number": 1}, TypeError),
    ],
)
def test_invalid_request_headers_are_refused(headers, error):
    with pytest.raises(error):
        Recorder().client().get("/", headers=headers)


@pytest.mark.parametrize(
    "kwargs, body, content_type",
    [
        ({"data": b"\x00\x01raw"}, b"\x00\x01raw", None),
        ({"data": "texte é"}, "texte é".encode(), "text/plain; charset=utf-8"),
        (
            {"data": {"a": "1", "b": "é"}},
            b"a=1&b=%C3%A9",
            "application/x-www-form-urlencoded",
        ),
        ({"data": [("k", "1"), ("k", "2")]}, b"k=1&k=2", None),
        ({"json": {"x": [1, 2]}}, b'{"x": [1, 2]}', "application/json"),
        (
            {"json": {"x": 1}, "headers": {"Content-Type": "application/vnd+json"}},
            b'{"x": 1}',
            "application/vnd+json",
        ),
        ({}, b"", None),
    ],
)
def test_request_bodies(kwargs, body, content_type):
    recorder = Recorder()
    recorder.client().post("/", **kwargs)
    environ = recorder.environ
    assert recorder.bodies[-1] == body
    assert environ["CONTENT_LENGTH"] == str(len(body))
    if content_type is not None:
        assert environ["CONTENT_TYPE"] == content_type


def test_data_and_json_are_exclusive():
    with pytest.raises(ValueError, match="data or json"):
        Recorder().client().post("/", data=b"x", json={})


@pytest.mark.parametrize(
    "method", ["get", "head", "options", "post", "put", "patch", "delete"]
)
def test_method_helpers(method):
    recorder = Recorder()
    response = getattr(recorder.client(), method)("/m")
    assert recorder.environ["REQUEST_METHOD"] == method.upper()
    assert response.status_code == 200


def test_path_must_start_with_a_slash():
    with pytest.raises(ValueError, match="must start with /"):
        Recorder().client().get("relative")


# -- HTTP: the response -------------------------------------------------------


def test_response_status_headers_and_body():
    client = TestClient(
        text_app(b"caf\xe9", "201 Created", X_Multi="1", Content_Language="fr")
    )
    response = client.get("/")
    assert response.status == "201 Created"
    assert response.status_code == 201
    assert response.body == b"caf\xe9"
    assert response.headers.get("content-language") == "fr"
    assert response.headers["X-MULTI"] == "1"
    assert "x-multi" in response.headers
    assert "X-Missing" not in response.headers
    assert response.headers.get("X-Missing") is None
    assert response.headers.get("X-Missing", "d") == "d"
    with pytest.raises(KeyError):
        response.headers["X-Missing"]
    assert repr(response) == "<TestResponse 201 Created>"


def test_response_headers_keep_order_and_repeats():
    headers = ResponseHeaders([("A", "1"), ("b", "2"), ("a", "3")])
    assert headers.get("a") == "1"
    assert headers.get_all("A") == ["1", "3"]
    assert headers.get_all("c") == []
    assert list(headers) == [("A", "1"), ("b", "2"), ("a", "3")]
    assert headers.items() == list(headers)
    assert len(headers) == 3
    assert 1 not in headers


@pytest.mark.parametrize(
    "content_type, raw, text",
    [
        ("text/plain; charset=utf-8", "été".encode(), "été"),
        ("text/plain; charset=latin-1", "été".encode("latin-1"), "été"),
        ('text/plain; charset="iso-8859-1"', "été".encode("latin-1"), "été"),
        ("text/plain", "été".encode(), "été"),
    ],
)
def test_response_text_uses_the_charset(content_type, raw, text):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", content_type)])
        return [raw]

    assert TestClient(validator(app)).get("/").text == text


def test_response_json():
    response = Recorder().client().get("/data")
    assert response.json() == {"path": "/data"}


# -- HTTP: WSGI rules ---------------------------------------------------------


def test_chunks_and_write_calls_are_collected_in_order():
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"one,")

        def body():
            yield b"two,"
            write(b"three,")
            yield b""
            yield b"four"

        return body()

    response = TestClient(validator(app)).get("/")
    assert response.body == b"one,two,three,four"
    assert list(response.iter_body()) == [b"one,", b"two,", b"three,", b"four"]


def test_generator_may_call_start_response_on_first_iteration():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"late"

    assert TestClient(validator(app)).get("/").body == b"late"


def no_start_response(environ, start_response):
    return [b"body"]


def empty_without_start_response(environ, start_response):
    return []


def body_before_start_response(environ, start_response):
    yield b"too early"
    start_response("200 OK", [("Content-Type", "text/plain")])


def str_chunk(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text"]


def returns_bytes(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return b"body"


def returns_none(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])


def status_without_reason(environ, start_response):
    start_response("200", [("Content-Type", "text/plain")])
    return []


def status_with_trailing_space(environ, start_response):
    start_response("200 OK ", [])
    return []


def status_not_str(environ, start_response):
    start_response(200, [])
    return []


def headers_as_tuple(environ, start_response):
    start_response("200 OK", (("Content-Type", "text/plain"),))
    return []


def header_not_a_pair(environ, start_response):
    start_response("200 OK", [("Content-Type",)])
    return []


def header_value_not_str(environ, start_response):
    start_response("200 OK", [("Content-Length", 4)])
    return []


def header_name_invalid(environ, start_response):
    start_response("200 OK", [("Bad Name", "x")])
    return []


def header_value_with_newline(environ, start_response):
    start_response("200 OK", [("X-Split", "a\nb")])
    return []


def status_header(environ, start_response):
    start_response("200 OK", [("Status", "200")])
    return []


def start_response_twice(environ, start_response):
    start_response("200 OK", [])
    start_response("500 Internal Server Error", [])
    return []


def write_str(environ, start_response):
    start_response("200 OK", [])("text")
    return []


@pytest.mark.parametrize(
    "app, message",
    [
        (no_start_response, "before calling start_response"),
        (empty_without_start_response, "without calling start_response"),
        (body_before_start_response, "before calling start_response"),
        (str_chunk, "yielded str"),
        (returns_bytes, "returned bytes"),
        (returns_none, "returned NoneType"),
        (status_without_reason, "malformed status"),
        (status_with_trailing_space, "malformed status"),
        (status_not_str, "status must be a str"),
        (headers_as_tuple, "must be a list"),
        (header_not_a_pair, "not a \\(name, value\\) tuple"),
        (header_value_not_str, "must be str"),
        (header_name_invalid, "invalid header name"),
        (header_value_with_newline, "invalid characters"),
        (status_header, "Status header"),
        (start_response_twice, "second time"),
        (write_str, "write\\(\\) takes bytes"),
    ],
)
def test_wsgi_violations_are_reported(app, message):
    # Not through the validator: the client itself must catch these.
    with pytest.raises(WSGIViolation, match=message):
        TestClient(app).get("/")


def test_wsgi_violation_is_a_500_without_raising():
    response = TestClient(str_chunk, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert isinstance(response.app_error, WSGIViolation)


def test_exc_info_replaces_the_status_before_the_body():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("failed while rendering")
        except ValueError:
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/plain")],
                sys.exc_info(),
            )
        return [b"error page"]

    response = TestClient(validator(app)).get("/")
    assert response.status_code == 500
    assert response.body == b"error page"


def test_exc_info_reraises_once_the_body_started():
    body = Body([])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def chunks():
            yield b"partial"
            try:
                raise ValueError("failed mid-body")
            except ValueError:
                start_response(
                    "500 Error", [("Content-Type", "text/plain")], sys.exc_info()
                )
            yield b"never"

        body.chunks = chunks()
        return body

    with pytest.raises(ValueError, match="failed mid-body"):
        TestClient(validator(app)).get("/")
    assert body.closed == 1


def test_head_drops_the_body_but_keeps_headers():
    body = Body([b"full ", b"body"])

    def app(environ, start_response):
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", "9")]
        )
        return body

    response = TestClient(validator(app)).head("/")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "9"
    assert response.body == b""
    assert body.produced == 2  # the app's body was consumed...
    assert body.closed == 1  # ...and closed


# -- HTTP: close() is always called -------------------------------------------


def make_closing_app(
    body: Body, status: Any = "200 OK", lazy: bool = False
) -> Callable[..., Any]:
    def app(environ, start_response):
        def start() -> None:
            start_response(status, [("Content-Type", "text/plain")])

        if lazy:
            body.start = start
        else:
            start()
        return body

    return app


@pytest.mark.parametrize("raise_errors", [True, False])
@pytest.mark.parametrize(
    "chunks, fail_at, status, lazy, method",
    [
        ([b"a", b"b"], None, "200 OK", False, "GET"),  # normal
        ([b"a", b"b"], None, "200 OK", True, "GET"),
        ([b"a", b"b"], 1, "200 OK", False, "GET"),  # the body raises
        ([b"a", b"b"], 0, "200 OK", True, "GET"),
        ([b"a", "str"], None, "200 OK", False, "GET"),  # WSGI violation in the body
        ([b"a"], None, "200", True, "GET"),  # violation in start_response
        ([b"a"], None, None, True, "GET"),  # start_response never called
        ([b"a", b"b"], None, "200 OK", False, "HEAD"),
        ([], None, "204 No Content", False, "GET"),
    ],
)
def test_close_is_always_called(chunks, fail_at, status, lazy, method, raise_errors):
    body = Body(chunks, fail_at)
    if status is None:
        app = lambda environ, start_response: body  # noqa: E731
    else:
        app = make_closing_app(body, status, lazy)
    client = TestClient(app, raise_server_exceptions=raise_errors)
    try:
        client.request(method, "/")
    except (RuntimeError, WSGIViolation):
        assert raise_errors
    assert body.closed == 1


def test_close_errors_propagate():
    class BadClose(Body):
        def close(self) -> None:
            super().close()
            raise OSError("close failed")

    body = BadClose([b"x"])
    with pytest.raises(OSError, match="close failed"):
        TestClient(make_closing_app(body)).get("/")
    response = TestClient(make_closing_app(body), raise_server_exceptions=False).get(
        "/"
    )
    assert response.status_code == 500
    assert body.closed == 2


# -- HTTP: exceptions ---------------------------------------------------------


def failing_app(environ, start_response):
    raise KeyError("missing thing")


def test_app_exception_propagates():
    with pytest.raises(KeyError, match="missing thing"):
        TestClient(validator(failing_app)).get("/")


def test_app_exception_becomes_500_when_asked():
    response = TestClient(failing_app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.status == "500 Internal Server Error"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert isinstance(response.app_error, KeyError)
    assert TestClient(text_app()).get("/").app_error is None


def test_error_logged_by_wsocket_is_raised():
    # What wsocket's middleware and framework do with an error they cannot
    # raise: log it with its traceback and answer 500.
    def app(environ, start_response):
        try:
            raise LookupError("handled by logging")
        except LookupError:
            logging.getLogger("wsocket.app").exception("error in handler")
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"oops"]

    with pytest.raises(LookupError, match="handled by logging"):
        TestClient(validator(app)).get("/")
    response = TestClient(validator(app), raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert response.body == b"oops"
    assert isinstance(response.app_error, LookupError)


def test_errors_logged_elsewhere_are_not_raised():
    def app(environ, start_response):
        try:
            raise LookupError("someone else's")
        except LookupError:
            logging.getLogger("myapp").exception("handled")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"fine"]

    assert TestClient(validator(app)).get("/").body == b"fine"


# -- HTTP: cookies ------------------------------------------------------------


def cookie_app(environ, start_response):
    """Set, show and delete cookies according to the path."""
    path = environ["PATH_INFO"]
    headers = [("Content-Type", "text/plain")]
    if path == "/login":
        headers += [
            ("Set-Cookie", "session=abc123; Path=/; HttpOnly"),
            ("Set-Cookie", "theme=dark; Max-Age=3600"),
            ("Set-Cookie", "future=yes; Expires=Fri, 01 Jan 2100 00:00:00 GMT"),
        ]
    elif path == "/logout":
        headers += [
            ("Set-Cookie", "session=; Max-Age=0; Path=/"),
            ("Set-Cookie", "theme=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
        ]
    elif path == "/max-age-wins":
        headers += [
            ("Set-Cookie", "keep=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60")
        ]
    elif path == "/garbage":
        headers += [("Set-Cookie", "no-equals-sign"), ("Set-Cookie", "=novalue")]
    start_response("200 OK", headers)
    return [environ.get("HTTP_COOKIE", "").encode()]


def test_cookie_jar_keeps_and_sends_cookies():
    client = TestClient(validator(cookie_app))
    response = client.get("/login")
    assert response.cookies == {"session": "abc123", "theme": "dark", "future": "yes"}
    assert client.cookies == {"session": "abc123", "theme": "dark", "future": "yes"}
    assert client.get("/").text == "session=abc123; theme=dark; future=yes"


def test_cookie_jar_deletes_on_max_age_zero_and_past_expiry():
    client = TestClient(validator(cookie_app))
    client.get("/login")
    response = client.get("/logout")
    assert response.cookies == {}
    assert client.cookies == {"future": "yes"}
    assert client.get("/").text == "future=yes"


def test_max_age_wins_over_expires():
    client = TestClient(validator(cookie_app))
    client.get("/max-age-wins")
    assert client.cookies == {"keep": "1"}


def test_malformed_set_cookie_is_ignored():
    client = TestClient(validator(cookie_app))
    client.get("/garbage")
    assert client.cookies == {}


def test_per_request_cookies_and_cookie_header():
    client = TestClient(validator(cookie_app))
    client.cookies["jar"] = "1"
    response = client.get("/", cookies={"extra": "2"}, headers={"Cookie": "raw=3"})
    assert response.text == "raw=3; jar=1; extra=2"
    assert client.cookies == {"jar": "1"}  # per-request cookies are not kept


# -- HTTP: streaming ----------------------------------------------------------


class Stream:
    """A streaming app that records how far the client pulled it."""

    def __init__(self, count: int = 3) -> None:
        self.count = count
        self.produced = 0
        self.closed = False

    def app(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        yield b""  # not a reason to send the headers yet
        try:
            for index in range(self.count):
                self.produced += 1
                yield f"data: {index}\n\n".encode()
        finally:
            self.closed = True


def test_stream_returns_chunks_as_the_app_yields_them():
    stream = Stream()
    with TestClient(validator(stream.app)).get("/events", stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert stream.produced == 1  # only what the headers needed
        chunks = response.iter_body()
        assert next(chunks) == b"data: 0\n\n"
        assert next(chunks) == b"data: 1\n\n"
        assert stream.produced == 2
        assert list(chunks) == [b"data: 2\n\n"]
        assert stream.closed  # exhausted: close() was called
    assert response.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_abandoned_stream_is_closed():
    stream = Stream(count=1000)
    with TestClient(validator(stream.app)).get("/", stream=True) as response:
        next(response.iter_body())
        assert not stream.closed
    assert stream.closed
    assert stream.produced == 1
    response.close()  # a second close does nothing


def test_stream_body_property_reads_the_rest():
    stream = Stream()
    response = TestClient(validator(stream.app)).get("/", stream=True)
    assert response.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert stream.closed


def test_stream_of_an_empty_body():
    body = Body([b"", b""])
    response = TestClient(make_closing_app(body)).get("/", stream=True)
    assert response.status_code == 200
    assert response.body == b""
    assert body.closed == 1


@pytest.mark.parametrize("raise_errors", [True, False])
def test_stream_error_after_the_headers(raise_errors):
    body = Body([b"first", b"second"], fail_at=1)
    client = TestClient(make_closing_app(body), raise_server_exceptions=raise_errors)
    response = client.get("/", stream=True)
    assert response.status_code == 200
    if raise_errors:
        with pytest.raises(RuntimeError, match="body failed"):
            _ = response.body
    else:
        assert response.body == b"first"
        assert isinstance(response.app_error, RuntimeError)
    assert body.closed == 1


def test_stream_error_before_the_headers():
    body = Body([b"first"], fail_at=0)
    with pytest.raises(RuntimeError):
        TestClient(make_closing_app(body)).get("/", stream=True)
    assert body.closed == 1


# -- HTTP: other tools --------------------------------------------------------


def test_webtest_drives_the_same_app():
    webtest = pytest.importorskip("webtest")
    app = WebSocketMiddleware(echo)
    assert webtest.TestApp(app).get("/").body == b"not a websocket"
    assert TestClient(app).get("/").body == b"not a websocket"


def test_not_collected_as_test_classes():
    for cls in (TestClient, TestResponse, TestWebSocket):
        assert cls.__test__ is False


# -- WebSocket: sessions ------------------------------------------------------


def test_echo_text_and_binary():
    client = TestClient(validator(WebSocketMiddleware(validator(echo))))
    with client.websocket_connect("/echo") as ws:
        assert isinstance(ws, TestWebSocket)
        ws.send("héllo")
        assert ws.receive() == "héllo"
        ws.send(b"\x00\xff")
        assert ws.receive() == b"\x00\xff"
    assert ws.closed
    assert ws.close_code == 1000
    assert ws.app_finished
    assert ws.app_error is None


def test_upgrade_environ_is_genuine():
    seen: list[Environ] = []

    def handler(ws, environ):
        seen.append(dict(environ))

    client = TestClient(websocket_app(handler), base_url="http://example.com:8080")
    client.cookies["session"] = "s1"
    with client.websocket_connect(
        "/chat/salon-é?room=1",
        query={"user": "zoé"},
        headers={"Origin": "http://example.com:8080"},
    ):
        pass
    environ = seen[0]
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["PATH_INFO"] == "/chat/salon-é".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "room=1&user=zo%C3%A9"
    assert environ["HTTP_HOST"] == "example.com:8080"
    assert environ["HTTP_UPGRADE"] == "websocket"
    assert environ["HTTP_CONNECTION"] == "Upgrade"
    assert environ["HTTP_SEC_WEBSOCKET_VERSION"] == "13"
    assert len(environ["HTTP_SEC_WEBSOCKET_KEY"]) == 24
    assert environ["HTTP_ORIGIN"] == "http://example.com:8080"
    assert environ["HTTP_COOKIE"] == "session=s1"
    assert "HTTP_SEC_WEBSOCKET_EXTENSIONS" not in environ  # not asked
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.websocket_version"] == "13"


def test_messages_sent_right_after_the_handshake_arrive():
    def handler(ws, environ):
        ws.send("welcome")
        ws.send("second")
        ws.send(ws.receive())

    with TestClient(websocket_app(handler)).websocket_connect("/") as ws:
        assert ws.receive() == "welcome"
        assert ws.receive() == "second"
        ws.send("bye")
        assert ws.receive() == "bye"
        assert ws.receive() is None  # the app returned: 1000
        assert ws.close_code == 1000


@pytest.mark.parametrize(
    "offered, supported, expected",
    [
        (["chat.v2", "chat.v1"], ["chat.v1", "chat.v2"], "chat.v1"),
        (["chat.v2"], ["chat.v1"], None),
        ([], ["chat.v1"], None),
        (["chat.v1"], [], None),
    ],
)
def test_subprotocols(offered, supported, expected):
    seen = []

    def handler(ws, environ):
        seen.append(ws.subprotocol)

    client = TestClient(websocket_app(handler, subprotocols=supported))
    with client.websocket_connect("/", subprotocols=offered) as ws:
        assert ws.subprotocol == expected
        assert ws.response_headers.get("Sec-WebSocket-Protocol") == expected
    assert seen == [expected]


def test_app_closes_with_a_code():
    def handler(ws, environ):
        ws.close(4000, "go away")

    with TestClient(websocket_app(handler)).websocket_connect("/") as ws:
        assert ws.receive() is None
        assert ws.close_code == 4000
        assert ws.close_reason == "go away"
        with pytest.raises(ConnectionClosedError):
            ws.send("too late")


def test_client_closes_with_a_code():
    seen = []

    def handler(ws, environ):
        assert ws.receive() is None
        seen.append((ws.close_code, ws.close_reason))

    with TestClient(websocket_app(handler)).websocket_connect("/") as ws:
        ws.close(4001, "done")
    assert seen == [(4001, "done")]
    assert ws.close_code == 4001


def test_explicit_close_without_with_block():
    ws = TestClient(validator(WebSocketMiddleware(echo))).websocket_connect("/")
    ws.send("x")
    assert ws.receive() == "x"
    ws.close()
    assert ws.app_finished
    ws.close()  # again: nothing happens


def test_app_error_closes_1011_and_is_raised_on_exit():
    def handler(ws, environ):
        ws.receive()
        raise ZeroDivisionError("handler bug")

    with pytest.raises(ZeroDivisionError, match="handler bug"):
        with TestClient(websocket_app(handler)).websocket_connect("/") as ws:
            ws.send("trigger")
            assert ws.receive() is None
            assert ws.close_code == 1011
    assert isinstance(ws.app_error, ZeroDivisionError)


def test_app_error_is_raised_even_when_the_block_failed():
    def handler(ws, environ):
        raise ZeroDivisionError("handler bug")

    client = TestClient(websocket_app(handler))
    with pytest.raises(ZeroDivisionError) as info:
        with client.websocket_connect("/") as ws:
            assert ws.receive() == "expected a message", "test assertion"
    # The failed assertion of the test is kept as the context.
    assert isinstance(info.value.__context__, AssertionError)


def test_app_error_is_recorded_when_not_raised():
    def handler(ws, environ):
        raise ZeroDivisionError("handler bug")

    client = TestClient(websocket_app(handler), raise_server_exceptions=False)
    with client.websocket_connect("/") as ws:
        assert ws.receive() is None
    assert ws.close_code == 1011
    assert isinstance(ws.app_error, ZeroDivisionError)


def test_error_raised_past_the_middleware_is_raised():
    # An app that takes the connection itself and fails after the 101.
    def handshake_app(environ, start_response):
        from wsocket.handshake import server_handshake
        from wsocket.servers import response_101

        handshake = server_handshake(environ)
        sock, _ = environ["wsocket.take_over"]()
        sock.sendall(response_101(handshake.headers))
        raise RuntimeError("after the 101")

    with pytest.raises(RuntimeError, match="after the 101"):
        with TestClient(handshake_app).websocket_connect("/") as ws:
            assert ws.receive() is None
            assert ws.close_code == 1006


# -- WebSocket: refused handshakes --------------------------------------------


def answers(status: str):
    def app(environ, start_response):
        start_response(status, [("Content-Type", "text/plain")])
        return [b"no WebSocket here"]

    return validator(app)


def route_ws_only(environ, start_response):
    """Route /ws to a WebSocket echo and anything else to a 404."""
    if environ["PATH_INFO"] == "/ws":
        return WebSocketMiddleware(echo)(environ, start_response)
    return answers("404 Not Found")(environ, start_response)


@pytest.mark.parametrize(
    "app, headers, status",
    [
        (
            WebSocketMiddleware(echo, origins=["http://good.test"]),
            {"Origin": "http://evil.test"},
            403,
        ),
        (WebSocketMiddleware(echo, origins=["http://good.test"]), None, 403),
        (route_ws_only, None, 404),
        (answers("426 Upgrade Required"), None, 426),
        (answers("200 OK"), None, 200),  # no middleware: plain HTTP answer
    ],
)
def test_refused_handshake_raises_with_the_status(app, headers, status):
    client = TestClient(validator(app))
    with pytest.raises(HandshakeError) as info:
        client.websocket_connect("/nope", headers=headers)
    assert info.value.status == status


def test_404_after_the_handshake_closes_1008():
    # A framework that does not know the route answers 404 after the 101:
    # the middleware closes with 1008 and the status.
    with TestClient(WebSocketMiddleware(answers("404 Not Found"))).websocket_connect(
        "/"
    ) as ws:
        assert ws.receive() is None
    assert ws.close_code == 1008
    assert ws.close_reason == "404 Not Found"


def test_app_error_before_the_handshake_is_raised():
    with pytest.raises(KeyError, match="missing thing"):
        TestClient(failing_app).websocket_connect("/")


def test_app_error_before_the_handshake_is_a_500_when_asked():
    client = TestClient(failing_app, raise_server_exceptions=False)
    with pytest.raises(HandshakeError) as info:
        client.websocket_connect("/")
    assert info.value.status == 500


def test_wsgi_violation_before_the_handshake_is_raised():
    with pytest.raises(WSGIViolation, match="start_response"):
        TestClient(no_start_response).websocket_connect("/")


def test_app_that_answers_nothing():
    def app(environ, start_response):
        sock, _ = environ["wsocket.take_over"]()
        sock.close()
        return []

    with pytest.raises(HandshakeError) as info:
        TestClient(app).websocket_connect("/")
    assert info.value.status == 0


def test_app_that_does_not_answer_in_time():
    release = threading.Event()

    def app(environ, start_response):
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return []

    start = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer"):
        TestClient(app).websocket_connect("/", timeout=200 * MS)
    assert time.monotonic() - start < 2000 * MS
    release.set()


def test_invalid_websocket_arguments():
    client = TestClient(echo)
    with pytest.raises(ValueError, match="timeout"):
        client.websocket_connect("/", timeout=0)
    with pytest.raises(ValueError, match="set by the handshake"):
        client.websocket_connect("/", headers={"Sec-WebSocket-Key": "x"})
    with pytest.raises(ValueError, match="compression"):
        client.websocket_connect("/", compression="gzip")


# -- WebSocket: apps that do not read -----------------------------------------


def test_app_that_returns_without_reading():
    sent = threading.Event()

    def handler(ws, environ):
        assert sent.wait(5)
        ws.send("only this")

    with TestClient(websocket_app(handler)).websocket_connect("/") as ws:
        for index in range(3):
            ws.send(f"unread {index}")
        sent.set()
        assert ws.receive() == "only this"
        assert ws.receive() is None
    assert ws.close_code == 1000
    assert ws.app_error is None


def test_app_that_only_pushes_ends_when_the_client_leaves():
    def handler(ws, environ):
        while True:
            ws.send("tick")
            time.sleep(5 * MS)

    start = time.monotonic()
    with TestClient(websocket_app(handler)).websocket_connect(
        "/", timeout=300 * MS
    ) as ws:
        assert ws.receive() == "tick"
    # The app never answers the Close: the client drops TCP after its
    # timeout, and the app's next send fails.
    assert time.monotonic() - start < 2000 * MS
    assert ws.app_finished
    assert ws.app_error is None


def test_app_that_never_returns_fails_the_test():
    release = threading.Event()
    finished = threading.Event()

    def handler(ws, environ):
        try:
            release.wait(10)
        finally:
            finished.set()

    ws = TestClient(websocket_app(handler)).websocket_connect("/", timeout=200 * MS)
    with pytest.raises(TimeoutError, match="still running"):
        ws.close()
    assert not ws.app_finished
    release.set()
    assert finished.wait(5)
    wait_for(lambda: ws.app_finished)


# -- WebSocket: sizes and compression -----------------------------------------


@pytest.mark.integration  # messages of 2 and 3 MiB: seconds each
@pytest.mark.parametrize("compression", [None, "deflate"])
def test_large_messages(compression):
    big_text = "é" * (1 << 20)  # 2 MiB of UTF-8
    big_binary = os.urandom(3 << 20)
    app = validator(WebSocketMiddleware(echo, max_message_size=None))
    with TestClient(app).websocket_connect("/", compression=compression) as ws:
        ws.send(big_text)
        assert ws.receive() == big_text
        ws.send(big_binary)
        assert ws.receive() == big_binary


def test_message_over_the_server_limit_closes_1009():
    app = validator(WebSocketMiddleware(echo, max_message_size=1024))
    with TestClient(app).websocket_connect("/") as ws:
        ws.send(b"x" * 2048)
        assert ws.receive() is None
    assert ws.close_code == 1009


@pytest.mark.parametrize(
    "client_asks, server_allows, negotiated",
    [
        ("deflate", "deflate", True),
        (True, "deflate", True),
        (None, "deflate", False),
        ("deflate", None, False),
    ],
)
def test_compression_is_negotiated_when_asked(client_asks, server_allows, negotiated):
    seen = []

    def handler(ws, environ):
        seen.append(ws.protocol.deflate is not None)
        ws.send(ws.receive())

    client = TestClient(websocket_app(handler, compression=server_allows))
    with client.websocket_connect("/", compression=client_asks) as ws:
        extensions = ws.response_headers.get("Sec-WebSocket-Extensions") or ""
        assert extensions.startswith("permessage-deflate") is negotiated
        assert (ws.protocol.deflate is not None) is negotiated
        ws.send("z" * 10000)
        assert ws.receive() == "z" * 10000
    assert seen == [negotiated]


# -- WebSocket: resources -----------------------------------------------------


def app_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wsocket-testing-app"]


def test_no_descriptor_or_thread_is_left_behind():
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd")

    def crash(ws, environ):
        raise ZeroDivisionError

    client = TestClient(WebSocketMiddleware(echo, origins=["http://good.test"]))
    crashing = TestClient(websocket_app(crash), raise_server_exceptions=False)
    plain = TestClient(answers("200 OK"))
    failing = TestClient(failing_app, raise_server_exceptions=False)

    def sessions() -> None:
        with client.websocket_connect(
            "/", headers={"Origin": "http://good.test"}
        ) as ws:
            ws.send("x")
            assert ws.receive() == "x"
        with client.websocket_connect(
            "/", headers={"Origin": "http://good.test"}
        ) as ws:
            ws.close(4000)
        with crashing.websocket_connect("/") as ws:
            assert ws.receive() is None
        for refused, headers in [
            (client, {"Origin": "http://evil.test"}),
            (plain, None),
            (failing, None),
        ]:
            with pytest.raises(HandshakeError):
                refused.websocket_connect("/", headers=headers)

    sessions()  # warm up: imports, logging, lazily created objects
    gc.collect()
    before = open_fds()
    for _ in range(5):
        sessions()
    gc.collect()
    assert open_fds() == before
    assert app_threads() == []


# -- The example of the docs --------------------------------------------------


@pytest.mark.integration  # pytest on the example in a subprocess
def test_testing_demo_example_passes():
    demo = os.path.join(ROOT_DIR, "examples", "testing_demo")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            demo,
        ],
        cwd=demo,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout


# -- The WSocketApp framework ----------------------------------------------------


@pytest.fixture
def framework_app() -> Any:
    if importlib.util.find_spec("wsocket.app") is None:
        pytest.skip("wsocket.app (the WSocketApp framework) does not exist yet")
    from wsocket.app import WSocketApp

    app = WSocketApp(subprotocols=["chat.v1"])

    @app.route("/hello/<name>")
    def hello(name):
        return f"Hello, {name}!"

    @app.route("/fail")
    def fail():
        raise ValueError("view bug")

    @app.websocket("/rooms/<room>")
    def room(ws, room):
        for message in ws:
            if message == "crash":
                raise ValueError("websocket handler bug")
            ws.send(f"{room}: {message}")

    return app


def test_framework_http_routes(framework_app):
    client = TestClient(validator(framework_app))
    response = client.get("/hello/Zoé")
    assert response.status_code == 200
    assert response.text == "Hello, Zoé!"
    assert client.get("/nowhere").status_code == 404


def test_framework_view_error_is_raised(framework_app):
    with pytest.raises(ValueError, match="view bug"):
        TestClient(framework_app).get("/fail")
    response = TestClient(framework_app, raise_server_exceptions=False).get("/fail")
    assert response.status_code == 500
    assert isinstance(response.app_error, ValueError)


def test_framework_websocket_route(framework_app):
    client = TestClient(validator(framework_app))
    with client.websocket_connect("/rooms/lobby", subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
        ws.send("hi")
        assert ws.receive() == "lobby: hi"
    assert ws.close_code == 1000
    with pytest.raises(HandshakeError) as info:
        client.websocket_connect("/nowhere")
    assert info.value.status == 404


def test_framework_websocket_error_is_raised(framework_app):
    with pytest.raises(ValueError, match="websocket handler bug"):
        with TestClient(framework_app).websocket_connect("/rooms/x") as ws:
            ws.send("crash")
            assert ws.receive() is None
            assert ws.close_code == 1011
