"""Tests for wsocket.request: every attribute of Request, its parsers, limits."""

from __future__ import annotations

import io
import json
import wsgiref.util
from typing import Any, Dict, Iterable, List, Optional, Tuple

import pytest
import webtest

from wsocket.exceptions import WebSocketError
from wsocket.request import (
    DEFAULT_MAX_BODY_SIZE,
    BadRequest,
    Headers,
    MultiDict,
    Request,
    RequestError,
    RequestTooLarge,
    UploadedFile,
)

MiB = 2**20


def make_request(
    body: Optional[bytes] = None,
    *,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    **environ: Any,
) -> Request:
    env: Dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
    wsgiref.util.setup_testing_defaults(env)
    if body is not None:
        env["wsgi.input"] = io.BytesIO(body)
        env["CONTENT_LENGTH"] = str(len(body))
    env.update(environ)
    return Request(env, max_body_size=max_body_size)


class CountingStream:
    """A wsgi.input that would yield ``total`` bytes and counts those read."""

    def __init__(self, total: int, greedy: bool = False) -> None:
        self.total = total
        self.greedy = greedy  # ignore the size asked, as a broken server would
        self.bytes_read = 0
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.greedy or size < 0:
            size = self.total
        size = min(size, self.total - self.bytes_read)
        self.bytes_read += size
        return b"x" * size


# -- Request line ---------------------------------------------------------------


def test_method() -> None:
    assert make_request().method == "GET"
    assert make_request(REQUEST_METHOD="post").method == "POST"
    request = Request({})
    assert request.method == "GET"


@pytest.mark.parametrize(
    ("path_info", "path"),
    [
        ("/", "/"),
        ("", ""),
        ("/plain/path", "/plain/path"),
        # PEP 3333: the UTF-8 bytes of the URL path, as latin-1 characters.
        ("/caf\xc3\xa9", "/caf\u00e9"),
        ("/\xe6\x97\xa5\xe6\x9c\xac", "/\u65e5\u672c"),
        # Percent escapes were decoded by the server, once, and stay.
        ("/%2e%2e", "/%2e%2e"),
        # A server that already decoded to text: used as it is.
        ("/\u65e5\u672c", "/\u65e5\u672c"),
    ],
)
def test_path(path_info: str, path: str) -> None:
    assert make_request(PATH_INFO=path_info).path == path


@pytest.mark.parametrize("path_info", ["/caf\xe9", "/\xff", "/\xc3"])
def test_path_that_is_not_utf8(path_info: str) -> None:
    with pytest.raises(BadRequest) as info:
        make_request(PATH_INFO=path_info).path  # noqa: B018
    assert info.value.status == 400
    assert "UTF-8" in info.value.message


def test_script_name() -> None:
    assert make_request(SCRIPT_NAME="/caf\xc3\xa9").script_name == "/caf\u00e9"
    assert make_request(SCRIPT_NAME="").script_name == ""
    with pytest.raises(BadRequest):
        make_request(SCRIPT_NAME="/\xff").script_name  # noqa: B018


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        (
            {
                "HTTP_HOST": "example.com",
                "SCRIPT_NAME": "/app",
                "PATH_INFO": "/a b",
                "QUERY_STRING": "x=1",
            },
            "http://example.com/app/a%20b?x=1",
        ),
        ({"HTTP_HOST": "example.com:8080"}, "http://example.com:8080/"),
        (
            {"SERVER_NAME": "example.com", "SERVER_PORT": "80"},
            "http://example.com/",
        ),
        (
            {"SERVER_NAME": "example.com", "SERVER_PORT": "8000"},
            "http://example.com:8000/",
        ),
        (
            {
                "wsgi.url_scheme": "https",
                "SERVER_NAME": "example.com",
                "SERVER_PORT": "443",
            },
            "https://example.com/",
        ),
        (
            {
                "wsgi.url_scheme": "https",
                "SERVER_NAME": "example.com",
                "SERVER_PORT": "80",
            },
            "https://example.com:80/",
        ),
        ({"HTTP_HOST": "h", "PATH_INFO": "/caf\xc3\xa9"}, "http://h/caf%C3%A9"),
        ({"HTTP_HOST": "h", "PATH_INFO": "/a;b=c@d:e,f"}, "http://h/a;b=c@d:e,f"),
        # A literal percent sign in the decoded path is escaped again.
        ({"HTTP_HOST": "h", "PATH_INFO": "/%2e"}, "http://h/%252e"),
        ({"HTTP_HOST": "h", "PATH_INFO": "/\u65e5"}, "http://h/%E6%97%A5"),
        (
            {"HTTP_HOST": "h", "QUERY_STRING": "q=%C3%A9&r=a b"},
            "http://h/?q=%C3%A9&r=a%20b",
        ),
        ({"HTTP_HOST": "h", "QUERY_STRING": ""}, "http://h/"),
    ],
)
def test_url(environ: Dict[str, Any], url: str) -> None:
    environ.setdefault("QUERY_STRING", "")
    request = make_request(**environ)
    if "HTTP_HOST" not in environ:
        request.environ.pop("HTTP_HOST", None)
    assert request.url == url


def test_repr() -> None:
    request = make_request(REQUEST_METHOD="POST", HTTP_HOST="h", PATH_INFO="/x")
    assert repr(request) == "<Request POST http://h/x>"


@pytest.mark.parametrize(
    ("routing_args", "params"),
    [
        (((), {"id": 42, "name": "x"}), {"id": 42, "name": "x"}),
        ((("positional",), {}), {}),
        ((), {}),
        ("nonsense", {}),
        (((), "not a dict"), {}),
        (None, {}),
    ],
)
def test_params(routing_args: Any, params: Dict[str, Any]) -> None:
    request = make_request(**{"wsgiorg.routing_args": routing_args})
    assert request.params == params


def test_params_without_routing_args() -> None:
    assert make_request().params == {}


# -- Query string and MultiDict -------------------------------------------


@pytest.mark.parametrize(
    ("query_string", "pairs"),
    [
        ("", []),
        ("a=1", [("a", "1")]),
        ("a=1&b=2&a=3", [("a", "1"), ("b", "2"), ("a", "3")]),
        # keep_blank_values.
        ("flag&empty=&x=1", [("flag", ""), ("empty", ""), ("x", "1")]),
        ("a=1&&b=2", [("a", "1"), ("b", "2")]),
        ("q=a+b&p=a%2Bb&s=%20", [("q", "a b"), ("p", "a+b"), ("s", " ")]),
        ("name=caf%C3%A9", [("name", "caf\u00e9")]),
        ("caf%C3%A9=1", [("caf\u00e9", "1")]),
        # Raw UTF-8 bytes, as latin-1 characters in the environ.
        ("name=caf\xc3\xa9", [("name", "caf\u00e9")]),
        # Bytes that are not UTF-8 become U+FFFD.
        ("bad=%FF", [("bad", "\ufffd")]),
        ("bad=\xff", [("bad", "\ufffd")]),
        # ";" is not a separator.
        ("a=1;b=2", [("a", "1;b=2")]),
        ("a=b=c", [("a", "b=c")]),
    ],
)
def test_query(query_string: str, pairs: List[Tuple[str, str]]) -> None:
    request = make_request(QUERY_STRING=query_string)
    assert request.query.allitems() == pairs
    assert request.args is request.query


def test_query_first_value_wins() -> None:
    query = make_request(QUERY_STRING="role=user&role=admin&x=1").query
    assert query["role"] == "user"
    assert query.get("role") == "user"
    assert query.getall("role") == ["user", "admin"]
    assert query.get("missing") is None
    assert query.get("missing", "default") == "default"
    assert query.getall("missing") == []
    assert list(query) == ["role", "x"]
    with pytest.raises(KeyError):
        query["missing"]


def test_multidict() -> None:
    items = [("b", 1), ("a", 2), ("b", 3)]
    d: MultiDict[int] = MultiDict(items)
    assert len(d) == 2
    assert list(d) == ["b", "a"]
    assert list(d.keys()) == ["b", "a"]
    assert list(d.values()) == [1, 2]
    assert list(d.items()) == [("b", 1), ("a", 2)]
    assert d.allitems() == items
    assert "b" in d and "c" not in d and 1 not in d
    assert dict(d) == {"b": 1, "a": 2}
    assert repr(d) == "MultiDict([('b', 1), ('a', 2), ('b', 3)])"
    assert len(MultiDict()) == 0


def test_multidict_is_read_only() -> None:
    d = MultiDict([("a", "1")])
    d.getall("a").append("2")
    d.allitems().append(("b", "2"))
    assert d.allitems() == [("a", "1")]
    with pytest.raises(TypeError):
        d["a"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(d)


def test_multidict_equality() -> None:
    d = MultiDict([("a", "1"), ("a", "2")])
    assert d == MultiDict([("a", "1"), ("a", "2")])
    assert d != MultiDict([("a", "2"), ("a", "1")])
    assert d != MultiDict([("a", "1")])
    # Against another mapping: the first values, as the mapping shows them.
    assert d == {"a": "1"}
    assert d != {"a": "2"}
    assert d != ["a"]


# -- Headers ---------------------------------------------------------------


def test_headers() -> None:
    request = make_request(
        HTTP_USER_AGENT="test/1.0",
        HTTP_X_FORWARDED_FOR="10.0.0.1",
        CONTENT_TYPE="text/plain",
        CONTENT_LENGTH="0",
    )
    headers = request.headers
    assert isinstance(headers, Headers)
    assert headers["User-Agent"] == "test/1.0"
    assert headers["user-agent"] == "test/1.0"
    assert headers["USER-AGENT"] == "test/1.0"
    assert headers.get("x-forwarded-for") == "10.0.0.1"
    assert headers["Content-Type"] == "text/plain"
    assert headers["content-length"] == "0"
    assert "Content-Type" in headers and "content-type" in headers
    assert "Server-Name" not in headers and 42 not in headers
    assert headers.get("missing") is None
    # The underscore of the CGI name is not a dash.
    assert "user_agent" not in headers
    assert {"User-Agent", "X-Forwarded-For", "Content-Type", "Host"} <= set(headers)
    assert len(headers) == len(list(headers))
    assert request.headers is headers
    assert repr(headers).startswith("Headers({")


def test_headers_only_http_and_content() -> None:
    headers = Headers(
        {
            "HTTP_ACCEPT": "*/*",
            "SERVER_NAME": "example.com",
            "wsgi.url_scheme": "http",
            "CONTENT_TYPE": "",
            "CONTENT_LENGTH": "",
            "HTTP_CONTENT_TYPE": "shadow",
            "HTTP_CONTENT_LENGTH": "99",
            "REMOTE_ADDR": "127.0.0.1",
        }
    )
    assert dict(headers) == {"Accept": "*/*"}


def test_headers_prefer_cgi_content_names() -> None:
    headers = Headers({"CONTENT_TYPE": "text/html", "HTTP_CONTENT_TYPE": "shadow"})
    assert headers["Content-Type"] == "text/html"


def test_headers_are_read_only() -> None:
    headers = make_request(HTTP_ACCEPT="*/*").headers
    with pytest.raises(TypeError):
        headers["Accept"] = "x"  # type: ignore[index]


# -- Cookies ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "cookies"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1;b=2", {"a": "1", "b": "2"}),
        ("  a = 1 ;\tb=2\t", {"a": "1", "b": "2"}),
        ("a=", {"a": ""}),
        ("a=b=c", {"a": "b=c"}),
        ('a="quoted value"', {"a": "quoted value"}),
        ('a="with \\"escapes\\""', {"a": 'with "escapes"'}),
        ('a="\\012"', {"a": "\n"}),
        ('a=""', {"a": ""}),
        # The first cookie of a name wins.
        ("a=1; a=2", {"a": "1"}),
        # Names that http.cookies would take for attributes are cookies here.
        ("path=/; expires=never; a=1", {"path": "/", "expires": "never", "a": "1"}),
        # UTF-8 bytes, as latin-1 characters in the environ.
        ("name=caf\xc3\xa9", {"name": "caf\u00e9"}),
        ("name=caf\u00e9\u65e5", {"name": "caf\u00e9\u65e5"}),
        # Malformed pairs are skipped, the others kept.
        (";;;", {}),
        ("novalue; good=1", {"good": "1"}),
        ("=1; good=1", {"good": "1"}),
        ("bad name=1; good=1", {"good": "1"}),
        ("bad,name=1; good=1", {"good": "1"}),
        ('a=x"y; good=1', {"good": "1"}),
        ('a="unterminated; good=1', {"good": "1"}),
        ("a=back\\slash; good=1", {"good": "1"}),
        ("bad=\xff; good=1", {"good": "1"}),
        ("caf\xc3\xa9=1; good=1", {"good": "1"}),
    ],
)
def test_cookies(header: str, cookies: Dict[str, str]) -> None:
    assert make_request(HTTP_COOKIE=header).cookies == cookies


def test_no_cookie_header() -> None:
    assert make_request().cookies == {}


# -- Content type and length -------------------------------------------------


def test_content_type_and_mimetype() -> None:
    request = make_request(CONTENT_TYPE="Text/HTML; Charset=UTF-8")
    assert request.content_type == "Text/HTML; Charset=UTF-8"
    assert request.mimetype == "text/html"
    assert make_request(CONTENT_TYPE="").mimetype == ""
    assert Request({}).content_type == ""


@pytest.mark.parametrize(
    ("value", "length"),
    [("", None), ("0", 0), ("42", 42), (" 42 ", 42), ("9" * 30, 10**18)],
)
def test_content_length(value: str, length: Optional[int]) -> None:
    assert make_request(CONTENT_LENGTH=value).content_length == length


def test_content_length_absent() -> None:
    assert Request({}).content_length is None


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "0x10", "4\u0662", "1 2"])
def test_invalid_content_length(value: str) -> None:
    request = make_request(CONTENT_LENGTH=value)
    with pytest.raises(BadRequest, match="Content-Length"):
        request.content_length  # noqa: B018
    with pytest.raises(BadRequest):
        request.body  # noqa: B018


# -- Body and its limit --------------------------------------------------------


def test_body_is_read_once() -> None:
    stream = CountingStream(100)
    request = make_request(**{"wsgi.input": stream, "CONTENT_LENGTH": "100"})
    assert request.body == b"x" * 100
    calls = stream.calls
    assert request.body == b"x" * 100
    assert stream.calls == calls
    assert stream.bytes_read == 100


def test_body_reads_only_content_length() -> None:
    stream = CountingStream(1000)
    request = make_request(**{"wsgi.input": stream, "CONTENT_LENGTH": "10"})
    assert request.body == b"x" * 10
    assert stream.bytes_read == 10


def test_body_from_a_stream_that_returns_too_much() -> None:
    stream = CountingStream(1000, greedy=True)
    request = make_request(**{"wsgi.input": stream, "CONTENT_LENGTH": "10"})
    assert request.body == b"x" * 10


def test_big_body_in_chunks() -> None:
    stream = CountingStream(MiB)
    request = make_request(**{"wsgi.input": stream, "CONTENT_LENGTH": str(MiB)})
    assert len(request.body) == MiB
    assert stream.calls == MiB // 65536


def test_empty_body() -> None:
    stream = CountingStream(100)
    request = make_request(**{"wsgi.input": stream, "CONTENT_LENGTH": "0"})
    assert request.body == b""
    assert stream.calls == 0


def test_no_content_length_means_no_body() -> None:
    # PEP 3333: without Content-Length, reading might block forever.
    stream = CountingStream(100)
    request = make_request(**{"wsgi.input": stream})
    request.environ.pop("CONTENT_LENGTH", None)
    assert request.body == b""
    assert stream.calls == 0


@pytest.mark.parametrize(
    "marker",
    [{"wsgi.input_terminated": True}, {"HTTP_TRANSFER_ENCODING": "Chunked"}],
)
def test_body_without_length_read_to_the_end(marker: Dict[str, Any]) -> None:
    stream = CountingStream(300_000)
    request = make_request(**{"wsgi.input": stream}, **marker)
    assert request.content_length is None
    assert request.body == b"x" * 300_000


def test_body_without_input() -> None:
    request = Request({"CONTENT_LENGTH": "10"})
    assert request.body == b""


def test_body_shorter_than_content_length() -> None:
    request = make_request(**{"wsgi.input": CountingStream(5), "CONTENT_LENGTH": "10"})
    with pytest.raises(BadRequest, match="shorter"):
        request.body  # noqa: B018


def test_too_large_content_length_is_refused_before_reading() -> None:
    stream = CountingStream(10 * MiB)
    request = make_request(**{"wsgi.input": stream, "CONTENT_LENGTH": str(10 * MiB)})
    with pytest.raises(RequestTooLarge) as info:
        request.body  # noqa: B018
    assert stream.bytes_read == 0
    error = info.value
    assert (error.status, error.reason) == (413, "Content Too Large")
    assert (error.limit, error.length) == (MiB, 10 * MiB)
    assert str(error) == (
        f"413 Content Too Large: the request body has {10 * MiB} bytes, more than {MiB}"
    )


def test_too_large_stream_is_read_to_the_limit_only() -> None:
    # No declared length: reading stops one byte past the limit.
    stream = CountingStream(10 * MiB)
    request = make_request(**{"wsgi.input": stream, "wsgi.input_terminated": True})
    with pytest.raises(RequestTooLarge) as info:
        request.body  # noqa: B018
    assert stream.bytes_read == MiB + 1
    assert info.value.length is None
    assert info.value.message == f"the request body is larger than {MiB} bytes"
    # The failure is remembered: nothing more is read.
    with pytest.raises(RequestTooLarge):
        request.body  # noqa: B018
    assert stream.bytes_read == MiB + 1


def test_too_large_greedy_stream() -> None:
    stream = CountingStream(10 * MiB, greedy=True)
    request = make_request(**{"wsgi.input": stream, "wsgi.input_terminated": True})
    with pytest.raises(RequestTooLarge):
        request.body  # noqa: B018


def test_body_exactly_at_the_limit() -> None:
    stream = CountingStream(1000)
    request = make_request(
        max_body_size=1000, **{"wsgi.input": stream, "wsgi.input_terminated": True}
    )
    assert len(request.body) == 1000
    request = make_request(b"x" * 1000, max_body_size=1000)
    assert len(request.body) == 1000
    with pytest.raises(RequestTooLarge):
        make_request(b"x" * 1001, max_body_size=1000).body  # noqa: B018


def test_zero_limit() -> None:
    assert make_request(b"", max_body_size=0).body == b""
    with pytest.raises(RequestTooLarge):
        make_request(b"x", max_body_size=0).body  # noqa: B018


def test_negative_limit() -> None:
    with pytest.raises(ValueError):
        Request({}, max_body_size=-1)


# -- Text and JSON -------------------------------------------------------------


def test_text() -> None:
    assert make_request("caf\u00e9".encode()).text == "caf\u00e9"
    latin = make_request(
        "caf\u00e9".encode("latin-1"), CONTENT_TYPE="text/plain; charset=latin-1"
    )
    assert latin.text == "caf\u00e9"
    quoted = make_request(b"abc", CONTENT_TYPE='text/plain; charset="utf-8"')
    assert quoted.text == "abc"


def test_text_errors() -> None:
    with pytest.raises(BadRequest, match="not valid utf-8"):
        make_request(b"\xff").text  # noqa: B018
    with pytest.raises(BadRequest, match="unknown charset"):
        make_request(b"abc", CONTENT_TYPE="text/plain; charset=nope").text  # noqa: B018


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"a": [1, 2.5, null, true, "\\u00e9"]}', {"a": [1, 2.5, None, True, "é"]}),
        (b"  42 ", 42),
        (b'"caf\xc3\xa9"', "caf\u00e9"),
        ('["utf-16"]'.encode("utf-16"), ["utf-16"]),
    ],
)
def test_json(body: bytes, value: Any) -> None:
    assert make_request(body, CONTENT_TYPE="application/json").json == value


def test_json_ignores_the_content_type() -> None:
    assert make_request(b"[1]", CONTENT_TYPE="text/plain").json == [1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body is empty, JSON was expected"),
        (b" \r\n", "the request body is empty, JSON was expected"),
        (b"{", "invalid JSON in the request body: Expecting property name"),
        (b'{"a": 1,}', "(line 1, column 9)"),
        (b"[1,\n 2,\n x]", "(line 3, column 2)"),
        (b"NaN garbage", "Extra data"),
        (b'"\xff"', "not valid UTF-8"),
        (b"[" * 200_000, "nested too deeply"),
    ],
)
def test_invalid_json(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        make_request(body).json  # noqa: B018
    assert info.value.status == 400
    assert message in info.value.message
    assert message in str(info.value)


def test_json_too_large() -> None:
    with pytest.raises(RequestTooLarge):
        make_request(b"[" + b"1," * 600_000 + b"1]").json  # noqa: B018


# -- URL-encoded forms -----------------------------------------------------------


def form_request(body: bytes, content_type: str, **environ: Any) -> Request:
    return make_request(
        body, REQUEST_METHOD="POST", CONTENT_TYPE=content_type, **environ
    )


URLENCODED = "application/x-www-form-urlencoded"


def test_urlencoded_form() -> None:
    body = b"a=1&b=&c&a=2&name=caf%C3%A9&plus=a+b&raw=caf\xc3\xa9"
    request = form_request(body, URLENCODED)
    assert request.form.allitems() == [
        ("a", "1"),
        ("b", ""),
        ("c", ""),
        ("a", "2"),
        ("name", "caf\u00e9"),
        ("plus", "a b"),
        ("raw", "caf\u00e9"),
    ]
    assert request.form["a"] == "1"
    assert request.files == MultiDict()


def test_urlencoded_form_with_parameters() -> None:
    request = form_request(b"a=1", "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    assert request.form == MultiDict([("a", "1")])


@pytest.mark.parametrize("content_type", ["", "application/json", "text/plain"])
def test_no_form_for_other_types(content_type: str) -> None:
    stream = CountingStream(10)
    request = make_request(
        **{"wsgi.input": stream, "CONTENT_LENGTH": "10", "CONTENT_TYPE": content_type}
    )
    assert len(request.form) == 0 and len(request.files) == 0
    assert stream.bytes_read == 0  # the body was not needed


def test_form_too_large() -> None:
    request = form_request(b"a=" + b"x" * 100, URLENCODED, max_body_size=50)
    with pytest.raises(RequestTooLarge):
        request.form  # noqa: B018
    with pytest.raises(RequestTooLarge):
        request.files  # noqa: B018


# -- Multipart forms -----------------------------------------------------------

BOUNDARY = "----boundary123"


def multipart(*parts: bytes, boundary: str = BOUNDARY, tail: bytes = b"") -> bytes:
    b = boundary.encode()
    body = b"".join(b"--" + b + b"\r\n" + part + b"\r\n" for part in parts)
    return body + b"--" + b + b"--\r\n" + tail


def field(name: str, value: bytes, extra: str = "") -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"\r\n{extra}'
    return head.encode() + b"\r\n" + value


def file_part(
    name: str, filename: str, data: bytes, content_type: str = "text/plain"
) -> bytes:
    head = (
        f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n"
    )
    return head.encode() + b"\r\n" + data


def multipart_request(body: bytes, boundary: str = BOUNDARY, **environ: Any) -> Request:
    return form_request(body, f"multipart/form-data; boundary={boundary}", **environ)


def test_multipart_fields_and_files() -> None:
    data = b"line 1\r\nline 2\r\n"
    binary = bytes(range(256)) * 4
    body = multipart(
        field("title", b"notes"),
        file_part("upload", "a.txt", data),
        file_part("upload", "b.bin", binary, "application/octet-stream"),
        field("title", "caf\u00e9".encode()),
    )
    request = multipart_request(body)
    assert request.form.allitems() == [("title", "notes"), ("title", "caf\u00e9")]
    uploads = request.files.getall("upload")
    assert uploads == [
        UploadedFile("upload", "a.txt", "text/plain", data),
        UploadedFile("upload", "b.bin", "application/octet-stream", binary),
    ]
    assert request.files["upload"] == uploads[0]
    assert request.files["upload"].size == len(data)
    with pytest.raises(AttributeError):
        uploads[0].data = b""  # type: ignore[misc]


def test_multipart_through_a_third_party_encoder() -> None:
    # WebTest builds the body, with its own boundary style ("...$").
    content_type, body = webtest.TestApp(lambda e, s: []).encode_multipart(
        [("title", "notes"), ("n", "1")],
        [("file", "data.csv", b"a,b\r\n1,2\r\n", "text/csv")],
    )
    request = form_request(body, content_type)
    assert dict(request.form) == {"title": "notes", "n": "1"}
    upload = request.files["file"]
    assert (upload.filename, upload.content_type) == ("data.csv", "text/csv")
    assert upload.data == b"a,b\r\n1,2\r\n"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n",
        b"x--" + BOUNDARY.encode() + b"\r\n",  # not at the start of a line
        b"x\r\n--" + BOUNDARY.encode() + b"X\r\n",  # a longer line than a boundary
        b"x\r\n--" + BOUNDARY.encode() + b"-x",
        b"\r\n--\r\n",
        b"ends with CR\r",
    ],
)
def test_multipart_data_that_looks_like_a_boundary(data: bytes) -> None:
    request = multipart_request(multipart(file_part("f", "f.bin", data)))
    assert request.files["f"].data == data


def test_multipart_preamble_epilogue_and_padding() -> None:
    b = BOUNDARY.encode()
    body = (
        b"This is the preamble.\r\n"
        b"--" + b + b" \t\r\n" + field("a", b"1") + b"\r\n"
        b"--" + b + b"\r\n" + field("b", b"2") + b"\r\n"
        b"--" + b + b"--  \r\nThis is the epilogue.\r\n--" + b + b"\r\n"
    )
    assert multipart_request(body).form.allitems() == [("a", "1"), ("b", "2")]


def test_multipart_only_closing_boundary() -> None:
    request = multipart_request(b"--" + BOUNDARY.encode() + b"--\r\n")
    assert len(request.form) == 0 and len(request.files) == 0


def test_multipart_quoted_boundary_with_space() -> None:
    boundary = "a b:c=?"
    body = multipart(field("a", b"1"), boundary=boundary)
    request = form_request(body, f'multipart/form-data; boundary="{boundary}"')
    assert request.form["a"] == "1"


def test_multipart_longest_boundary() -> None:
    boundary = "b" * 70
    request = multipart_request(
        multipart(field("a", b"1"), boundary=boundary), boundary
    )
    assert request.form["a"] == "1"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ('form-data; name="a"; filename=""', ("a", "")),
        ("form-data; name=a; filename=plain.txt", ("a", "plain.txt")),
        ('form-data; name="a"; filename="caf\u00e9.txt"', ("a", "caf\u00e9.txt")),
        ('form-data; name="a"; filename="C:\\dir\\a.txt"', ("a", "C:\\dir\\a.txt")),
        ('form-data; name="a"; filename="q\\"uote.txt"', ("a", 'q"uote.txt')),
        ('form-data; name="a"; filename="semi;colon.txt"', ("a", "semi;colon.txt")),
        ('Form-Data; NAME="a"; FileName="x"', ("a", "x")),
        ('form-data; filename="x"; name="a"; name="b"', ("a", "x")),
        ('form-data;name="a";filename="x";flag', ("a", "x")),
    ],
)
def test_multipart_content_disposition(headers: str, expected: Tuple[str, str]) -> None:
    part = f"Content-Disposition: {headers}\r\n\r\n".encode() + b"data"
    files = multipart_request(multipart(part)).files
    name, filename = expected
    assert files[name].filename == filename
    assert files[name].name == name
    assert files[name].data == b"data"


def test_multipart_empty_file_input() -> None:
    request = multipart_request(
        multipart(file_part("f", "", b"", "application/octet-stream"))
    )
    assert request.files["f"] == UploadedFile("f", "", "application/octet-stream", b"")


def test_multipart_file_without_content_type() -> None:
    part = b'Content-Disposition: form-data; name="f"; filename="x"\r\n\r\ndata'
    assert multipart_request(multipart(part)).files["f"].content_type == "text/plain"


def test_multipart_field_charsets() -> None:
    body = multipart(
        field("latin", b"caf\xe9", "Content-Type: text/plain; charset=latin-1\r\n"),
        field("unknown", b"caf\xc3\xa9", "Content-Type: text/plain; charset=nope\r\n"),
        field("invalid", b"caf\xff"),
    )
    form = multipart_request(body).form
    assert form["latin"] == "caf\u00e9"
    assert form["unknown"] == "caf\u00e9"
    assert form["invalid"] == "caf\ufffd"


def test_multipart_skips_parts_that_are_not_named_fields() -> None:
    body = multipart(
        b"Content-Type: text/plain\r\n\r\nno disposition",
        b'Content-Disposition: attachment; name="a"\r\n\r\nnot form-data',
        b"Content-Disposition: form-data\r\n\r\nno name",
        b"",
        b"\r\n",
        field("kept", b"yes"),
    )
    request = multipart_request(body)
    assert request.form.allitems() == [("kept", "yes")]
    assert len(request.files) == 0


def test_multipart_folded_header() -> None:
    part = b'Content-Disposition: form-data;\r\n name="folded"\r\n\r\nvalue'
    assert multipart_request(multipart(part)).form["folded"] == "value"


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/form-data", multipart(field("a", b"1")), "boundary"),
        ("multipart/form-data; boundary=", multipart(field("a", b"1")), "boundary"),
        (
            "multipart/form-data; boundary=" + "b" * 71,
            multipart(field("a", b"1"), boundary="b" * 71),
            "boundary",
        ),
        ('multipart/form-data; boundary="ends "', b"", "boundary"),
        ('multipart/form-data; boundary="caf\u00e9"', b"", "boundary"),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            b"no boundary at all",
            "does not contain its boundary",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            multipart(field("a", b"1"))[: -len(BOUNDARY) - 6],
            "ends before its closing boundary",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\n".encode() + field("a", b"1"),
            "ends before its closing boundary",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            multipart(b'Content-Disposition: form-data; name="a"'),
            "no blank line",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            multipart(b"no colon here\r\n\r\nvalue"),
            "malformed header line",
        ),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            multipart(field("a", b"1")).replace(b"\r\n", b"\n"),
            "does not contain its boundary",
        ),
    ],
)
def test_malformed_multipart(content_type: str, body: bytes, message: str) -> None:
    request = form_request(body, content_type)
    with pytest.raises(BadRequest) as info:
        request.form  # noqa: B018
    assert message in info.value.message
    with pytest.raises(BadRequest):
        request.files  # noqa: B018


def test_multipart_too_large() -> None:
    body = multipart(file_part("f", "big.bin", b"x" * 2000))
    request = multipart_request(body, max_body_size=1000)
    with pytest.raises(RequestTooLarge):
        request.files  # noqa: B018


# -- Connection ---------------------------------------------------------------


def test_websocket() -> None:
    websocket = object()
    request = make_request(**{"wsgi.websocket": websocket})
    assert request.websocket is websocket
    assert request.is_websocket
    plain = make_request()
    assert plain.websocket is None
    assert not plain.is_websocket


@pytest.mark.parametrize(
    ("upgrade", "expected"),
    [
        ("websocket", True),
        ("WebSocket", True),
        ("h2c, websocket", True),
        ("h2c", False),
    ],
)
def test_is_websocket_for_an_upgrade_request(upgrade: str, expected: bool) -> None:
    assert make_request(HTTP_UPGRADE=upgrade).is_websocket is expected


def test_remote_addr() -> None:
    request = make_request(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert request.remote_addr == "10.0.0.1"
    assert Request({}).remote_addr is None
    assert Request({"REMOTE_ADDR": ""}).remote_addr is None


# -- Exceptions ----------------------------------------------------------------


def test_exceptions() -> None:
    error = BadRequest("something is wrong")
    assert isinstance(error, RequestError) and isinstance(error, WebSocketError)
    assert (error.status, error.reason, error.message) == (
        400,
        "Bad Request",
        "something is wrong",
    )
    assert str(error) == "400 Bad Request: something is wrong"
    too_large = RequestTooLarge(100, 200)
    assert isinstance(too_large, RequestError)
    assert too_large.status == 413
    assert (
        str(too_large)
        == "413 Content Too Large: the request body has 200 bytes, more than 100"
    )


# -- A WSGI app that turns the exceptions into responses --------------------------


def app(environ: Dict[str, Any], start_response: Any) -> Iterable[bytes]:
    request = Request(environ, max_body_size=1000)
    try:
        if request.mimetype == "application/json":
            data: Any = request.json
        else:
            data = {
                "query": request.query.allitems(),
                "form": request.form.allitems(),
                "files": {k: f.data.decode() for k, f in request.files.allitems()},
                "cookies": request.cookies,
                "path": request.path,
            }
        status = "200 OK"
    except RequestError as exc:
        data = {"error": exc.message}
        status = f"{exc.status} {exc.reason}"
    body = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]


def test_through_webtest() -> None:
    client = webtest.TestApp(app)
    client.set_cookie("session", "abc")
    response = client.post(
        "/caf%C3%A9?x=1&x=2",
        {"field": "value"},
        upload_files=[("upload", "a.txt", b"content")],
    )
    assert response.json == {
        "query": [["x", "1"], ["x", "2"]],
        "form": [["field", "value"]],
        "files": {"upload": "content"},
        "cookies": {"session": "abc"},
        "path": "/caf\u00e9",
    }
    assert client.post_json("/", {"a": [1]}).json == {"a": [1]}
    bad = client.post("/", b"{oops", content_type="application/json", status=400)
    assert "invalid JSON" in bad.json["error"]
    big = client.post("/", b"x" * 1001, content_type="text/plain", status=200)
    assert big.json["form"] == []
    refused = client.post("/", {"f": "x" * 2000}, content_type=URLENCODED, status=413)
    assert "more than 1000" in refused.json["error"]
