"""wsocket.responses: status lines, headers, bodies, Response, JSON, HTTPError.

Bodies are checked through WebTest, whose lint middleware validates every
response against PEP 3333, and through a bare ``start_response`` where the
test needs to see the order of events (peeking, closing).
"""

from __future__ import annotations

import datetime
import email.message
import http
import io
import json
import logging
from typing import Any, Callable, Dict, List

import pytest
import webtest

from wsocket.responses import (
    HTTPError,
    Response,
    abort,
    error_page,
    header_list,
    json_response,
    redirect,
    status_line,
    to_wsgi,
)


def wsgi(make_result: Callable[[], Any], **options: Any):
    """A WSGI app whose handler returned ``make_result()``."""

    def app(environ, start_response):
        return to_wsgi(make_result(), environ, start_response, **options)

    return app


def get(make_result, method="GET", extra_environ=None, **options):
    client = webtest.TestApp(wsgi(make_result, **options), extra_environ=extra_environ)
    return client.request("/", method=method, expect_errors=True)


class Recorder:
    """A bare start_response that records its calls."""

    def __init__(self) -> None:
        self.calls: List[Any] = []

    def __call__(self, status, headers, exc_info=None):
        self.calls.append((status, headers))
        return lambda data: None


ENVIRON: Dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}


# -- status lines -----------------------------------------------------------------


@pytest.mark.parametrize(
    "status,line",
    [
        (200, "200 OK"),
        (404, "404 Not Found"),
        (http.HTTPStatus.CREATED, "201 Created"),
        (http.HTTPStatus.IM_A_TEAPOT, "418 I'm a Teapot"),
        ("200", "200 OK"),
        ("204", "204 No Content"),
        ("200 OK", "200 OK"),
        ("200 Fine", "200 Fine"),  # a given phrase is kept
        ("404 Gone Fishing", "404 Gone Fishing"),
        ("200 ", "200 OK"),  # a blank phrase is filled in
        (199, "199 Informational"),
        (299, "299 Success"),
        ("299", "299 Success"),
        (399, "399 Redirection"),
        (499, "499 Client Error"),
        ("499 Custom", "499 Custom"),
        (599, "599 Server Error"),
        (100, "100 Continue"),
    ],
)
def test_status_line(status, line):
    assert status_line(status) == line


@pytest.mark.parametrize(
    "status",
    [
        99,
        600,
        0,
        -200,
        1000,
        "99",
        "600 Nope",
        "abc",
        "20",
        "2000",
        "200OK",
        " 200",
        "",
        "٢٠٠",  # Unicode digits are not HTTP digits
        "200 O\r\nSet-Cookie: x=1",
        "200 O\nK",
        "200 O\x00K",
        "200 \u20ac",
        True,
        200.0,
        b"200 OK",
        None,
        [200],
    ],
)
def test_status_line_refuses(status):
    with pytest.raises(ValueError):
        status_line(status)


def test_status_line_error_says_which_forms_work():
    with pytest.raises(ValueError, match="'404 Not Found'"):
        status_line("four oh four")
    with pytest.raises(ValueError, match="out of range"):
        status_line(700)


# -- headers ----------------------------------------------------------------------


class GetallMultiDict:
    """A multi-dict whose items() shows one value per name, like bottle's."""

    def __init__(self, pairs):
        self.pairs = pairs

    def keys(self):
        return [name for name, _ in self.pairs]

    def getall(self, name):
        return [value for key, value in self.pairs if key == name]

    def items(self):
        return dict(self.pairs).items()


def test_header_list_forms():
    expected = [("X-A", "1"), ("X-B", "two")]
    assert header_list(None) == []
    assert header_list([]) == []
    assert header_list([("X-A", "1"), ("X-B", "two")]) == expected
    assert header_list((("X-A", 1), ["X-B", "two"])) == expected
    assert header_list({"X-A": 1, "X-B": "two"}) == expected
    assert header_list(iter([("X-A", 1), ("X-B", "two")])) == expected
    assert header_list(pair for pair in expected) == expected


def test_header_list_repeated_names():
    cookies = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X", "y")]
    assert header_list({"Set-Cookie": ["a=1", "b=2"], "X": "y"}) == cookies
    assert header_list({"Set-Cookie": ("a=1", "b=2"), "X": "y"}) == cookies
    assert header_list(GetallMultiDict(cookies)) == cookies
    message = email.message.Message()
    message["Set-Cookie"] = "a=1"
    message["Set-Cookie"] = "b=2"
    message["X"] = "y"
    assert header_list(message) == cookies


def test_header_list_with_webob_and_werkzeug_multidicts():
    from webob.multidict import MultiDict as WebObMultiDict

    cookies = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert header_list(WebObMultiDict(cookies)) == cookies
    werkzeug = pytest.importorskip("werkzeug.datastructures")
    assert header_list(werkzeug.Headers(cookies)) == cookies


def test_header_values_go_through_str():
    class Thing:
        def __str__(self) -> str:
            return "thing"

    assert header_list(
        [("X-Int", 3), ("X-Float", 1.5), ("X-Obj", Thing()), ("X-Bytes", b"caf\xe9")]
    ) == [("X-Int", "3"), ("X-Float", "1.5"), ("X-Obj", "thing"), ("X-Bytes", "café")]


def test_header_values_may_hold_tabs_and_latin1():
    assert header_list([("X", "a\tb"), ("Y", "café")]) == [("X", "a\tb"), ("Y", "café")]


@pytest.mark.parametrize(
    "name",
    ["", "X Y", "X:Y", "X\r\nY", "X\x00", "é", "X-\u20ac", 3, b"X-Bytes", None],
)
def test_header_list_refuses_names_that_are_not_tokens(name):
    with pytest.raises(ValueError, match="invalid header name"):
        header_list([(name, "v")])


@pytest.mark.parametrize(
    "value",
    [
        "a\r\nSet-Cookie: evil=1",
        "a\rb",
        "a\nb",
        "a\x00b",
        "a\x01b",
        "a\x7fb",
        "\u20ac",
        b"a\r\nb",
    ],
)
def test_header_list_refuses_values_that_would_split_the_response(value):
    with pytest.raises(ValueError, match="invalid value for header 'X'"):
        header_list([("X", value)])


@pytest.mark.parametrize(
    "headers", ["X: y", b"X: y", [("X",)], [("X", "y", "z")], ["Xy"], [3]]
)
def test_header_list_refuses_what_is_not_pairs(headers):
    with pytest.raises(ValueError):
        header_list(headers)


# -- bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,data",
    [
        ("héllo", "héllo".encode()),
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"),
        (["a", b"b", "é"], "abé".encode()),
        (("a", b"b"), b"ab"),
        ([bytearray(b"x"), memoryview(b"y")], b"xy"),
        ([], b""),
        ("", b""),
        (None, b""),
    ],
    ids=[
        "str",
        "bytes",
        "bytearray",
        "memoryview",
        "list",
        "tuple",
        "list-of-bytes-like",
        "empty-list",
        "empty-str",
        "none",
    ],
)
def test_bodies_of_known_size(body, data):
    response = get(lambda: body)
    assert response.status_int == 200
    assert response.body == data
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("status", [200, http.HTTPStatus.OK, "200 OK"])
@pytest.mark.parametrize("body", ["héllo", b"h\xc3\xa9llo"])
def test_plain_text_or_bytes_answers_as_the_general_path_does(body, status, method):
    # str and bytes with no headers take a short path: same status line,
    # same headers in the same order, same body, as a list of them takes.
    environ = dict(ENVIRON, REQUEST_METHOD=method)
    short, general = Recorder(), Recorder()
    short_body = list(to_wsgi(body, environ, short, status))
    general_body = list(to_wsgi([body], environ, general, status))
    assert (
        short.calls
        == general.calls
        == [
            (
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "6")],
            )
        ]
    )
    assert short_body == general_body == ([] if method == "HEAD" else [b"h\xc3\xa9llo"])


def test_generator_is_streamed_without_content_length():
    def chunks():
        yield "a"
        yield b"b"
        yield bytearray(b"c")

    recorder = Recorder()
    body = to_wsgi(chunks(), ENVIRON, recorder)
    assert recorder.calls == [
        ("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    ]
    assert list(body) == [b"a", b"b", b"c"]
    response = get(chunks)
    assert response.body == b"abc"


def test_iterator_chunks_come_out_one_by_one_as_produced():
    produced: List[str] = []

    def chunks():
        for text in ("one", "two", "three"):
            produced.append(text)
            yield text

    body = iter(to_wsgi(chunks(), ENVIRON, Recorder()))
    # The first chunk is produced before start_response, to catch an early
    # failure; every other one only when the server asks for it.
    assert produced == ["one"]
    assert next(body) == b"one"
    assert produced == ["one"]
    assert next(body) == b"two"
    assert produced == ["one", "two"]


def test_empty_generator_has_content_length_zero():
    def nothing():
        return
        yield  # pragma: no cover

    response = get(nothing)
    assert response.body == b""
    assert response.headers["Content-Length"] == "0"


def test_custom_iterable_and_its_close():
    closed = []

    class Body:
        def __iter__(self):
            return iter([b"x", "y"])

        def close(self):
            closed.append(True)

    response = get(Body)
    assert response.body == b"xy"
    assert closed == [True]


def test_generator_closed_by_the_server_gets_generator_exit():
    events = []

    def chunks():
        try:
            yield b"first"
            yield b"second"  # pragma: no cover - never reached
        except GeneratorExit:
            events.append("GeneratorExit")
            raise

    body = to_wsgi(chunks(), ENVIRON, Recorder())
    assert next(iter(body)) == b"first"
    body.close()  # type: ignore[attr-defined]
    assert events == ["GeneratorExit"]
    body.close()  # type: ignore[attr-defined]
    assert events == ["GeneratorExit"]  # closed once


def test_head_drops_the_body_keeps_the_length_and_closes():
    events = []

    def chunks():
        try:
            yield b"abc"
        except GeneratorExit:
            events.append("GeneratorExit")
            raise

    response = get(lambda: "hello", method="HEAD")
    assert response.body == b""
    assert response.headers["Content-Length"] == "5"
    response = get(chunks, method="HEAD")
    assert response.body == b""
    assert events == ["GeneratorExit"]


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status):
    closed = []

    class Body:
        def __iter__(self):
            return iter([b"ignored"])

        def close(self):
            closed.append(True)

    response = get(Body, status=status)
    assert response.status_int == status
    assert response.body == b""
    assert "Content-Type" not in response.headers
    assert "Content-Length" not in response.headers
    assert closed == [True]


def test_given_content_type_and_length_are_kept():
    response = get(
        lambda: "{}",
        headers=[("Content-Type", "application/json"), ("Content-Length", "2")],
    )
    assert response.headers.getall("Content-Type") == ["application/json"]
    assert response.headers.getall("Content-Length") == ["2"]


def test_file_without_file_wrapper_is_read_in_blocks(tmp_path, monkeypatch):
    import wsocket.responses as responses

    monkeypatch.setattr(responses, "FILE_BLOCK_SIZE", 4)
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    opened = []

    def make():
        file = open(path, "rb")
        opened.append(file)
        return file

    recorder = Recorder()
    body = to_wsgi(make(), ENVIRON, recorder)
    assert ("Content-Length", "10") in recorder.calls[0][1]
    assert list(body) == [b"0123", b"4567", b"89"]
    body.close()  # type: ignore[attr-defined]
    assert opened[0].closed

    response = get(make)
    assert response.body == b"0123456789"
    assert opened[1].closed


def test_file_content_length_counts_from_the_current_position(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")

    def make():
        file = open(path, "rb")
        file.seek(4)
        return file

    response = get(make)
    assert response.body == b"456789"
    assert response.headers["Content-Length"] == "6"


def test_file_through_file_wrapper(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"wrapped file")
    wrapped = []

    class FileWrapper:
        def __init__(self, file, block_size=8192):
            wrapped.append((file, block_size))
            self.file = file

        def __iter__(self):
            return iter(lambda: self.file.read(4), b"")

        def close(self):
            self.file.close()

    response = get(
        lambda: open(path, "rb"), extra_environ={"wsgi.file_wrapper": FileWrapper}
    )
    assert response.body == b"wrapped file"
    assert response.headers["Content-Length"] == "12"
    assert len(wrapped) == 1
    assert wrapped[0][0].closed


def test_file_like_objects():
    response = get(lambda: io.BytesIO(b"in memory"))
    assert response.body == b"in memory"
    assert response.headers["Content-Length"] == "9"

    # Text: encoded as UTF-8, its size in bytes unknown beforehand.
    recorder = Recorder()
    body = to_wsgi(io.StringIO("héllo"), ENVIRON, recorder)
    assert b"".join(body) == "héllo".encode()
    assert all(name != "Content-Length" for name, _ in recorder.calls[0][1])
    assert get(lambda: io.StringIO("héllo")).body == "héllo".encode()

    class Reader:
        """Has read() only: no size."""

        def __init__(self):
            self.parts = [b"ab", b"cd", b""]

        def read(self, size=-1):
            return self.parts.pop(0)

    recorder = Recorder()
    body = to_wsgi(Reader(), ENVIRON, recorder)
    assert all(name != "Content-Length" for name, _ in recorder.calls[0][1])
    assert b"".join(body) == b"abcd"


def test_text_file_bypasses_file_wrapper():
    response = get(
        lambda: io.StringIO("text"),
        extra_environ={"wsgi.file_wrapper": lambda file, size: pytest.fail("used")},
    )
    assert response.body == b"text"


def test_response_object_status_and_headers_win():
    response = get(
        lambda: Response("made", 201, {"Location": "/x"}),
        status=500,
        headers={"X": "1"},
    )
    assert response.status == "201 Created"
    assert response.headers["Location"] == "/x"
    assert "X" not in response.headers
    assert response.body == b"made"


@pytest.mark.parametrize(
    "body,message",
    [
        ([{"a": 1}], "chunk is a dict: to send JSON"),
        ([[1, 2]], "chunk is a list: to send JSON"),
        ([1, 2], "must be str or bytes, not int"),
        (42, "cannot send a int as a response body"),
        (3.5, "cannot send a float"),
        (object(), "cannot send a object"),
        (Response(Response("x")), "cannot be the body of another Response"),
    ],
    ids=[
        "list-of-dicts",
        "list-of-lists",
        "list-of-ints",
        "int",
        "float",
        "object",
        "nested",
    ],
)
def test_bodies_that_cannot_be_sent(body, message):
    recorder = Recorder()
    with pytest.raises(TypeError) as info:
        to_wsgi(body, ENVIRON, recorder)
    assert message in str(info.value)
    assert recorder.calls == []  # nothing was started


def test_generator_of_dicts_is_refused_before_start_response():
    closed = []

    def chunks():
        try:
            yield {"a": 1}
        finally:
            closed.append(True)

    recorder = Recorder()
    with pytest.raises(TypeError, match="json_response"):
        to_wsgi(chunks(), ENVIRON, recorder)
    assert recorder.calls == []
    assert closed == [True]


def test_generator_failing_at_once_is_closed_and_raises_before_start():
    class Failing:
        closed = False

        def __iter__(self):
            return self

        def __next__(self):
            raise RuntimeError("no data")

        def close(self):
            Failing.closed = True

    recorder = Recorder()
    with pytest.raises(RuntimeError, match="no data"):
        to_wsgi(Failing(), ENVIRON, recorder)
    assert recorder.calls == []
    assert Failing.closed


def test_bad_header_closes_the_body_and_starts_nothing():
    closed = []

    class Body:
        def __iter__(self):
            return iter([b"x"])

        def close(self):
            closed.append(True)

    recorder = Recorder()
    with pytest.raises(ValueError, match="invalid value"):
        to_wsgi(Body(), ENVIRON, recorder, headers=[("X", "a\r\nb")])
    with pytest.raises(ValueError, match="invalid HTTP status"):
        to_wsgi(Body(), ENVIRON, recorder, status="oops")
    assert recorder.calls == []
    assert closed == [True, True]


def test_failure_while_streaming_is_logged_and_reraised(caplog):
    def chunks():
        yield b"first"
        raise RuntimeError("broken stream")

    body = iter(to_wsgi(chunks(), dict(ENVIRON, PATH_INFO="/s"), Recorder()))
    assert next(body) == b"first"
    with caplog.at_level(logging.ERROR, logger="wsocket.app"):
        with pytest.raises(RuntimeError, match="broken stream"):
            next(body)
    (record,) = [r for r in caplog.records if r.name == "wsocket.app"]
    assert "/s" in record.getMessage() and "cut short" in record.getMessage()
    assert record.exc_info is not None and "broken stream" in str(record.exc_info[1])


# -- Response ---------------------------------------------------------------------


def test_response_defaults_and_accessors():
    response = Response()
    assert response.status == "200 OK"
    assert response.status_code == 200
    assert response.headers == []
    assert response.body is None
    assert repr(response) == "<Response '200 OK'>"

    response = Response("x", "404", {"X-A": 1}, content_type="text/plain")
    assert response.status == "404 Not Found"
    assert response.get_header("x-a") == "1"
    assert response.get_header("Content-Type") == "text/plain"
    assert response.get_header("Missing") is None
    assert response.get_header("Missing", "d") == "d"

    response.status = http.HTTPStatus.GONE
    assert response.status_code == 410
    response.set_header("X-A", 2)
    assert response.headers == [("Content-Type", "text/plain"), ("X-A", "2")]
    response.add_header("Set-Cookie", "a=1")
    response.add_header("Set-Cookie", "b=2")
    assert [v for n, v in response.headers if n == "Set-Cookie"] == ["a=1", "b=2"]


def test_response_refuses_bad_status_and_headers_at_once():
    with pytest.raises(ValueError):
        Response("x", 1000)
    with pytest.raises(ValueError):
        Response("x", 200, {"Bad Name": "x"})
    response = Response("x")
    with pytest.raises(ValueError):
        response.status = "nope"
    with pytest.raises(ValueError):
        response.set_header("X", "a\nb")
    with pytest.raises(ValueError):
        response.add_header("X", "a\x00b")
    assert response.headers == []


def test_response_is_a_wsgi_app():
    app = webtest.TestApp(Response("body", 202, [("X-A", "1")]))
    response = app.get("/", status=202)
    assert response.body == b"body"
    assert response.headers["X-A"] == "1"
    assert response.headers["Content-Length"] == "4"


def test_response_headers_changed_by_hand_are_checked_when_sent():
    response = Response("x")
    response.headers.append(("X", "a\r\nb"))
    with pytest.raises(ValueError):
        to_wsgi(response, ENVIRON, Recorder())


# -- JSON -------------------------------------------------------------------------


def test_json_response():
    response = json_response({"name": "Zoë", "n": [1, 2]})
    assert response.status == "200 OK"
    assert response.get_header("Content-Type") == "application/json"
    assert response.body == '{"name":"Zoë","n":[1,2]}'.encode()
    assert json.loads(response.body) == {"name": "Zoë", "n": [1, 2]}

    served = webtest.TestApp(response).get("/")
    assert served.json == {"name": "Zoë", "n": [1, 2]}
    assert served.headers["Content-Length"] == str(len(response.body))


def test_json_response_status_headers_and_options():
    response = Response.json([1], 201, {"Location": "/1"}, indent=2)
    assert response.status_code == 201
    assert response.get_header("Location") == "/1"
    assert response.body == b"[\n  1\n]"
    assert json_response({"b": 1, "a": 2}, sort_keys=True).body == b'{"a":2,"b":1}'
    assert json_response({"e": "é"}, ensure_ascii=True).body == b'{"e":"\\u00e9"}'
    assert json_response({"s": {1}}, default=sorted).body == b'{"s":[1]}'
    assert json_response(None).body == b"null"


def test_json_response_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError):
        json_response({"s": {1, 2}})


# -- errors -----------------------------------------------------------------------


def test_http_error_is_a_response_and_an_exception():
    error = HTTPError(404)
    assert isinstance(error, Response) and isinstance(error, Exception)
    assert error.status == "404 Not Found"
    assert str(error) == "404 Not Found"
    assert "<title>404 Not Found</title>" in error.body
    assert "was not found" in error.body
    assert error.exception is None and error.traceback is None
    assert HTTPError().status_code == 500


def test_http_error_with_body_and_headers():
    error = HTTPError(405, "no", {"Allow": "GET"})
    assert error.body == "no"
    assert error.get_header("Allow") == "GET"
    error = HTTPError(http.HTTPStatus.TOO_MANY_REQUESTS)
    assert "429 Too Many Requests" in error.body


def test_http_error_is_a_wsgi_app():
    app = webtest.TestApp(HTTPError(426, headers={"Upgrade": "websocket"}))
    response = app.get("/", status=426)
    assert response.headers["Upgrade"] == "websocket"
    assert b"426 Upgrade Required" in response.body
    assert app.head("/", status=426).body == b""


def test_abort_raises():
    with pytest.raises(HTTPError) as info:
        abort(403)
    assert info.value.status_code == 403
    with pytest.raises(HTTPError) as info:
        abort(401, "who?", {"WWW-Authenticate": "Bearer"})
    assert info.value.body == "who?"
    assert info.value.get_header("WWW-Authenticate") == "Bearer"
    with pytest.raises(ValueError):
        abort(1234)


def test_error_page_escapes():
    page = error_page(404, "No page at /<script>", detail='File "<x>"\n  & more')
    assert "<script>" not in page
    assert "/&lt;script&gt;" in page
    assert "<pre>File &quot;&lt;x&gt;&quot;\n  &amp; more</pre>" in page
    assert error_page(500).count("<p>") == 0


# -- dict bodies, redirects, cookies -------------------------------------------------


def test_a_dict_is_sent_as_json():
    recorder = Recorder()
    body = b"".join(to_wsgi({"name": "Ada", "n": [1, 2]}, ENVIRON, recorder))
    assert json.loads(body) == {"name": "Ada", "n": [1, 2]}
    ((status, headers),) = recorder.calls
    assert status == "200 OK"
    assert ("Content-Type", "application/json") in headers
    assert ("Content-Length", str(len(body))) in headers


def test_a_dict_keeps_a_chosen_status_and_content_type():
    recorder = Recorder()
    response = Response(
        {"ok": False}, 422, {"Content-Type": "application/problem+json"}
    )
    body = b"".join(to_wsgi(response, ENVIRON, recorder))
    assert json.loads(body) == {"ok": False}
    ((status, headers),) = recorder.calls
    assert status.startswith("422")
    assert [v for n, v in headers if n == "Content-Type"] == [
        "application/problem+json"
    ]


def test_a_list_stays_a_body_of_chunks():
    recorder = Recorder()
    assert b"".join(to_wsgi(["a", b"b"], ENVIRON, recorder)) == b"ab"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect(code):
    response = redirect("/new place/ü?q=1", code)
    assert isinstance(response, Response)
    assert response.status_code == code
    assert response.get_header("Location") == "/new%20place/%C3%BC?q=1"
    recorder = Recorder()
    body = b"".join(to_wsgi(response, ENVIRON, recorder))
    assert b'href="/new%20place/%C3%BC?q=1"' in body


def test_redirect_defaults_to_302_and_refuses_bad_input():
    assert redirect("https://example.com/").status_code == 302
    with pytest.raises(ValueError, match="redirect code must be one of"):
        redirect("/x", 200)
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        redirect("/x\r\nSet-Cookie: evil=1")


def test_set_cookie_with_every_attribute():
    response = Response("hi")
    response.set_cookie(
        "session",
        "abc123",
        max_age=3600,
        path="/app",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    (cookie,) = [v for n, v in response.headers if n == "Set-Cookie"]
    parts = cookie.split("; ")
    assert parts[0] == "session=abc123"
    assert "Max-Age=3600" in parts
    assert any(part.startswith("Expires=") and part.endswith(" GMT") for part in parts)
    assert {
        "Path=/app",
        "Domain=example.com",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    } <= set(parts)


def test_set_cookie_expires_forms():
    when = datetime.datetime(2030, 1, 2, 3, 4, 5)
    response = Response()
    response.set_cookie("a", "1", expires=when)
    response.set_cookie("b", "2", expires=0, path=None)
    response.set_cookie("c", "3", max_age=datetime.timedelta(minutes=2))
    a, b, c = [v for n, v in response.headers if n == "Set-Cookie"]
    assert a == "a=1; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/"
    assert b == "b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    assert c.startswith("c=3; Max-Age=120; Expires=")


def test_several_cookies_are_several_headers_and_delete_cookie_expires():
    response = Response()
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    response.delete_cookie("a", path="/")
    cookies = [v for n, v in response.headers if n == "Set-Cookie"]
    assert cookies[:2] == ["a=1; Path=/", "b=2; Path=/"]
    assert cookies[2] == "a=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "bad name"}, "must be an HTTP token"),
        ({"name": ""}, "must be an HTTP token"),
        ({"value": "a b"}, "encode it first"),
        ({"value": "a;b"}, "encode it first"),
        ({"value": "é"}, "encode it first"),
        ({"samesite": "sometimes"}, "samesite must be"),
        ({"samesite": "None"}, "needs secure=True"),
        ({"path": "/a;b"}, "forbidden character"),
        ({"domain": "x\r\ny"}, "forbidden character"),
    ],
)
def test_set_cookie_refuses_what_rfc_6265_does_not_allow(kwargs, message):
    args = {"name": "n", "value": "v", **kwargs}
    with pytest.raises(ValueError, match=message):
        Response().set_cookie(args.pop("name"), args.pop("value"), **args)


def test_cookies_round_trip_through_the_test_client():
    from wsocket.testing import TestClient

    def app(environ, start_response):
        response = Response("set")
        response.set_cookie("token", "t0k", httponly=True)
        return response(environ, start_response)

    client = TestClient(app)
    client.get("/")
    assert client.cookies.get("token") == "t0k"
