"""Tests for wsocket.static: files, validators, preconditions, ranges, safety.

Most tests call the app in-process through :func:`wsgiref.validate.validator`
with an exact ``PATH_INFO`` (what a server hands over after decoding the
URL once); the WebTest tests go through a full request cycle with WebTest's
own lint.
"""

from __future__ import annotations

import email
import hashlib
import http.client
import importlib.util
import os
import socket
import subprocess
import sys
import time
import wsgiref.util
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from wsgiref.validate import validator

import pytest
import webtest

from wsocket.static import (
    StaticFiles,
    StaticResponse,
    http_date,
    parse_http_date,
    serve_static,
)

# A fixed modification time: Sun, 09 Sep 2001 01:46:40 GMT.
MTIME = 1_000_000_000
LAST_MODIFIED = "Sun, 09 Sep 2001 01:46:40 GMT"
DATA = bytes(range(100))
SECRET = b"TOP SECRET\n"
NOT_FOUND = b"Not Found\n"

Headers = Dict[str, str]


class Result:
    """What a WSGI app answered: status line, headers, body."""

    def __init__(self, status: str, headers: List[Tuple[str, str]], body: bytes):
        self.status = status
        self.header_list = headers
        self.headers: Headers = {name.lower(): value for name, value in headers}
        self.body = body

    @property
    def code(self) -> int:
        return int(self.status[:3])


def make_environ(
    path: str = "/",
    method: str = "GET",
    headers: Optional[Headers] = None,
    **extra: Any,
) -> Dict[str, Any]:
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
    }
    wsgiref.util.setup_testing_defaults(environ)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.update(extra)
    return environ


def call(app: Callable[..., Iterable[bytes]], environ: Dict[str, Any]) -> Result:
    """Run a WSGI app under wsgiref's validator and collect its answer."""
    started: List[Any] = []

    def start_response(status: str, headers: List[Tuple[str, str]], exc=None):  # type: ignore[no-untyped-def]
        started[:] = [status, headers]
        return lambda data: None

    iterable = validator(app)(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        iterable.close()  # type: ignore[attr-defined]
    return Result(started[0], started[1], body)


def get(
    root: Path,
    path: str,
    method: str = "GET",
    headers: Optional[Headers] = None,
    **options: Any,
) -> Result:
    return call(StaticFiles(root, **options), make_environ(path, method, headers))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A served directory, with files outside it that must stay unreachable."""
    public = tmp_path / "public"
    public.mkdir()
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "public-evil").mkdir()
    (tmp_path / "public-evil" / "secret.txt").write_bytes(SECRET)

    files = {
        "hello.txt": b"Hello, world!\n",
        "index.html": b"<h1>root index</h1>\n",
        "data.bin": DATA,
        "empty.txt": b"",
        "page.css": b"body { color: red }\n",
        "script.js": b"console.log(1)\n",
        "data.json": b"{}\n",
        "image.png": b"\x89PNG\r\n\x1a\n",
        "archive.tar.gz": b"\x1f\x8b\x08\x00",
        "unknown.zzz": b"?",
        "caf\u00e9.txt": b"coffee\n",
        "a%20b.txt": b"percent\n",
        "a%2e%2e": b"literal percent name\n",
        ".secret": SECRET,
        "sub/index.html": b"<h1>sub index</h1>\n",
        "sub/page.txt": b"sub page\n",
        "sub/.secret": SECRET,
        ".hidden/file.txt": SECRET,
        "noindex/file.txt": b"no index here\n",
        # Names that exist on POSIX only to prove they are refused anyway.
        "C:/secret.txt": SECRET,
        "..\\secret.txt": SECRET,
        "x:y.txt": SECRET,
        "x\\y.txt": SECRET,
    }
    for name, content in files.items():
        path = public / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (MTIME, MTIME))
    return public


# -- StaticResponse and the public functions ------------------------------


def test_serve_static_returns_a_wsgi_ready_response(root: Path) -> None:
    response = serve_static(make_environ(), root, "hello.txt")
    assert isinstance(response, StaticResponse)
    assert response.status == "200 OK"
    assert response.status_code == 200
    assert ("Content-Length", "14") in response.headers
    assert b"".join(response.body) == b"Hello, world!\n"
    response.close()
    assert repr(response) == "<StaticResponse 200 OK>"


def test_static_response_is_a_wsgi_app(root: Path) -> None:
    environ = make_environ()
    response = serve_static(environ, str(root), "/sub/page.txt")
    result = call(response, environ)
    assert result.status == "200 OK"
    assert result.body == b"sub page\n"
    assert result.header_list == response.headers


def test_static_files_serves_path_info(root: Path) -> None:
    result = get(root, "/hello.txt")
    assert result.status == "200 OK"
    assert result.body == b"Hello, world!\n"
    assert result.headers["content-length"] == "14"
    assert result.headers["accept-ranges"] == "bytes"
    assert "cache-control" not in result.headers
    assert repr(StaticFiles(root)) == f"<StaticFiles {str(root)!r}>"


def test_root_may_be_a_symlink(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to(root, target_is_directory=True)
    assert get(link, "/hello.txt").body == b"Hello, world!\n"
    assert get(link, "/../secret.txt").code == 404


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("hello.txt", "text/plain; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("page.css", "text/css; charset=utf-8"),
        ("data.json", "application/json"),
        ("image.png", "image/png"),
        ("data.bin", "application/octet-stream"),
        ("unknown.zzz", "application/octet-stream"),
        # A compressed file is announced as such, never with Content-Encoding.
        ("archive.tar.gz", "application/gzip"),
    ],
)
def test_content_type(root: Path, name: str, content_type: str) -> None:
    result = get(root, "/" + name)
    assert result.headers["content-type"] == content_type
    assert "content-encoding" not in result.headers


def test_content_type_of_javascript_has_a_charset(root: Path) -> None:
    # application/javascript or text/javascript, depending on the Python
    # version and the system's mime.types.
    content_type = get(root, "/script.js").headers["content-type"]
    assert content_type.endswith("/javascript; charset=utf-8")


def test_validators(root: Path) -> None:
    result = get(root, "/hello.txt")
    assert result.headers["last-modified"] == LAST_MODIFIED
    etag = result.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    # Same file, same tag.
    assert get(root, "/hello.txt").headers["etag"] == etag


def test_etag_changes_with_size_and_with_mtime(root: Path) -> None:
    path = root / "hello.txt"
    before = get(root, "/hello.txt").headers["etag"]
    os.utime(path, ns=(MTIME * 10**9 + 1, MTIME * 10**9 + 1))
    touched = get(root, "/hello.txt").headers["etag"]
    path.write_bytes(b"Hello, world!!\n")
    os.utime(path, (MTIME, MTIME))
    resized = get(root, "/hello.txt").headers["etag"]
    assert len({before, touched, resized}) == 3


def test_max_age(root: Path) -> None:
    assert get(root, "/hello.txt", max_age=60).headers["cache-control"] == "max-age=60"
    assert get(root, "/hello.txt", max_age=0).headers["cache-control"] == "max-age=0"


def test_utf8_file_name(root: Path) -> None:
    # PEP 3333: PATH_INFO holds the bytes of the decoded URL as latin-1.
    raw = "/caf\u00e9.txt".encode().decode("latin-1")
    assert get(root, raw).body == b"coffee\n"


def test_utf8_file_name_through_webtest(root: Path) -> None:
    app = webtest.TestApp(StaticFiles(root))
    assert app.get("/caf%C3%A9.txt").body == b"coffee\n"


def test_path_info_already_decoded_to_text(root: Path) -> None:
    # Not PEP 3333, but some servers do it: text that cannot be latin-1 is
    # used as it is.
    (root / "\u65e5\u672c.txt").write_bytes(b"japan\n")
    assert get(root, "/\u65e5\u672c.txt").body == b"japan\n"


def test_path_info_that_is_not_utf8(root: Path) -> None:
    result = get(root, "/caf\xe9.txt")
    assert (result.code, result.body) == (404, NOT_FOUND)


def test_percent_is_never_decoded_twice(root: Path) -> None:
    # The URL /a%2520b.txt reaches the app as /a%20b.txt: the file of that
    # name, not "a b.txt".
    assert get(root, "/a%20b.txt").body == b"percent\n"
    assert get(root, "/a b.txt").code == 404
    assert get(root, "/a%2e%2e").body == b"literal percent name\n"


# -- Directories and index files -------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/", b"<h1>root index</h1>\n"),
        ("", b"<h1>root index</h1>\n"),
        ("/sub/", b"<h1>sub index</h1>\n"),
        ("//sub//", b"<h1>sub index</h1>\n"),
    ],
)
def test_index_for_a_trailing_slash(root: Path, path: str, body: bytes) -> None:
    result = get(root, path)
    assert result.body == body
    assert result.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "path", ["/sub", "/noindex/", "/noindex", "/missing/", "/hello.txt/"]
)
def test_directories_are_never_listed(root: Path, path: str) -> None:
    result = get(root, path)
    assert (result.code, result.body) == (404, NOT_FOUND)


def test_index_can_be_disabled(root: Path) -> None:
    assert get(root, "/", index=None).code == 404
    assert get(root, "/sub/", index=None).code == 404
    assert get(root, "/sub/page.txt", index=None).code == 200


def test_other_index_name(root: Path) -> None:
    assert get(root, "/noindex/", index="file.txt").body == b"no index here\n"


# -- Safety: everything outside the root is 404, with the same body ---------

TRAVERSALS = [
    # Plain dot-dot segments, as PATH_INFO after the server's decoding.
    "/../secret.txt",
    "/sub/../../secret.txt",
    "/sub/../hello.txt",
    "/..",
    "/../",
    "/./../secret.txt",
    # Still percent-encoded after the server's decoding (the URL had %25):
    # a naive second decoding would produce "..".
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    # Backslashes, a separator on Windows.
    "/..\\secret.txt",
    "/x\\y.txt",
    "/sub\\..\\..\\secret.txt",
    # Drive letters and alternate data streams.
    "/C:/secret.txt",
    "/C:\\secret.txt",
    "/c:secret.txt",
    "/x:y.txt",
    "/hello.txt::$DATA",
    # NUL bytes.
    "/hello.txt\x00.png",
    "/\x00",
    "/sub/\x00/page.txt",
    # Hidden files and directories.
    "/.secret",
    "/sub/.secret",
    "/.hidden/file.txt",
    "/.hidden/",
    # Not special, but not files either.
    "/..;/secret.txt",
    "/...",
    "/missing.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_404(root: Path, path: str) -> None:
    result = get(root, path)
    assert (result.status, result.body) == ("404 Not Found", NOT_FOUND)
    assert result.headers["content-type"] == "text/plain; charset=utf-8"


def test_absolute_paths_stay_below_the_root(root: Path, tmp_path: Path) -> None:
    secret = str(tmp_path / "secret.txt")
    for path in (secret, "/" + secret, "//" + secret.lstrip("/")):
        assert get(root, path).code == 404
        assert serve_static(make_environ(), root, path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "sub/../../secret.txt",
        "..",
        "C:\\secret.txt",
        "C:secret.txt",
        "\\\\server\\share\\secret.txt",
        "hello.txt\x00",
        "\udcff.txt",  # an undecodable byte, as surrogateescape gives it
        "x" * 5000,  # too long a name
        ".secret",
    ],
)
def test_serve_static_refuses(root: Path, path: str) -> None:
    response = serve_static(make_environ(), root, path)
    assert (response.status_code, b"".join(response.body)) == (404, NOT_FOUND)


def test_traversal_through_webtest(root: Path) -> None:
    app = webtest.TestApp(StaticFiles(root))
    for url in ("/%2e%2e/secret.txt", "/%252e%252e/secret.txt", "/..%2fsecret.txt"):
        assert app.get(url, status=404).body == NOT_FOUND


def test_symlink_out_of_root_is_404(root: Path, tmp_path: Path) -> None:
    (root / "link-out").symlink_to(tmp_path / "secret.txt")
    (root / "dir-out").symlink_to(tmp_path, target_is_directory=True)
    # A prefix of the root's name is not inside the root.
    (root / "link-evil").symlink_to(tmp_path / "public-evil" / "secret.txt")
    (root / "sub" / "relative-out").symlink_to("../../secret.txt")
    for path in (
        "/link-out",
        "/dir-out/secret.txt",
        "/link-evil",
        "/sub/relative-out",
    ):
        result = get(root, path)
        assert (result.code, result.body) == (404, NOT_FOUND), path


def test_symlink_inside_root_is_served(root: Path) -> None:
    (root / "link-in").symlink_to(root / "hello.txt")
    (root / "sub" / "relative-in").symlink_to("../hello.txt")
    (root / "dir-in").symlink_to(root / "sub", target_is_directory=True)
    assert get(root, "/link-in").body == b"Hello, world!\n"
    assert get(root, "/sub/relative-in").body == b"Hello, world!\n"
    assert get(root, "/dir-in/page.txt").body == b"sub page\n"


def test_dangling_and_looping_symlinks_are_404(root: Path) -> None:
    (root / "dangling").symlink_to(root / "nothing")
    (root / "loop").symlink_to(root / "loop")
    assert get(root, "/dangling").code == 404
    assert get(root, "/loop").code == 404


def test_hidden_files_can_be_allowed(root: Path) -> None:
    assert get(root, "/.secret", allow_hidden=True).body == SECRET
    assert get(root, "/.hidden/file.txt", allow_hidden=True).body == SECRET
    # Dot-dot segments are still refused, even when they stay inside.
    assert get(root, "/../secret.txt", allow_hidden=True).code == 404
    assert get(root, "/sub/../hello.txt", allow_hidden=True).code == 404


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_404_without_blocking(root: Path) -> None:
    os.mkfifo(root / "fifo")
    assert get(root, "/fifo").code == 404


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything"
)
def test_unreadable_file_is_404(root: Path) -> None:
    (root / "hello.txt").chmod(0)
    try:
        assert get(root, "/hello.txt").code == 404
    finally:
        (root / "hello.txt").chmod(0o644)


# -- Methods and HEAD ----------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
@pytest.mark.parametrize("path", ["/hello.txt", "/missing.txt"])
def test_other_methods_are_405(root: Path, method: str, path: str) -> None:
    result = get(root, path, method)
    assert result.status == "405 Method Not Allowed"
    assert result.headers["allow"] == "GET, HEAD"
    assert result.body == b"Method Not Allowed\n"


def test_head_has_the_headers_of_get_and_no_body(root: Path) -> None:
    get_result = get(root, "/hello.txt")
    head_result = get(root, "/hello.txt", "HEAD")
    assert head_result.status == "200 OK"
    assert head_result.header_list == get_result.header_list
    assert head_result.body == b""


def test_head_of_missing_file(root: Path) -> None:
    result = get(root, "/missing.txt", "HEAD")
    assert result.code == 404
    assert result.headers["content-length"] == str(len(NOT_FOUND))
    assert result.body == b""


def test_head_ignores_range(root: Path) -> None:
    # RFC 9110 section 14.2: GET is the only method with range handling.
    result = get(root, "/data.bin", "HEAD", {"Range": "bytes=0-9"})
    assert result.code == 200
    assert result.headers["content-length"] == "100"
    assert result.body == b""


def test_head_through_webtest(root: Path) -> None:
    app = webtest.TestApp(StaticFiles(root))
    response = app.head("/hello.txt")
    assert response.headers["Content-Length"] == "14"
    assert response.body == b""


# -- Conditional requests --------------------------------------------------


def etag_of(root: Path, path: str = "/hello.txt") -> str:
    return get(root, path).headers["etag"]


BEFORE = "Sun, 09 Sep 2001 01:46:39 GMT"
AFTER = "Sun, 09 Sep 2001 01:46:41 GMT"

# (request headers, expected status); "ETAG" stands for the file's ETag.
CONDITIONS: List[Tuple[Headers, int]] = [
    ({}, 200),
    # If-None-Match: the weak comparison.
    ({"If-None-Match": "ETAG"}, 304),
    ({"If-None-Match": "W/ETAG"}, 304),
    ({"If-None-Match": '"other", ETAG'}, 304),
    ({"If-None-Match": '"other",ETAG,"more"'}, 304),
    ({"If-None-Match": '"a,b", ETAG'}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"other"'}, 200),
    ({"If-None-Match": '"other", W/"another"'}, 200),
    ({"If-None-Match": ""}, 200),
    ({"If-None-Match": "garbage"}, 200),
    ({"If-None-Match": "garbage, ETAG"}, 304),
    # If-Modified-Since, in the three date formats.
    ({"If-Modified-Since": LAST_MODIFIED}, 304),
    ({"If-Modified-Since": AFTER}, 304),
    ({"If-Modified-Since": BEFORE}, 200),
    ({"If-Modified-Since": "Sunday, 09-Sep-01 01:46:40 GMT"}, 304),
    ({"If-Modified-Since": "Sun Sep  9 01:46:40 2001"}, 304),
    ({"If-Modified-Since": "yesterday"}, 200),
    ({"If-Modified-Since": ""}, 200),
    # If-None-Match takes precedence (RFC 9110 section 13.2.2).
    ({"If-None-Match": '"other"', "If-Modified-Since": AFTER}, 200),
    ({"If-None-Match": "ETAG", "If-Modified-Since": BEFORE}, 304),
    # If-Match: the strong comparison.
    ({"If-Match": "ETAG"}, 200),
    ({"If-Match": "*"}, 200),
    ({"If-Match": '"other", ETAG'}, 200),
    ({"If-Match": '"other"'}, 412),
    ({"If-Match": "W/ETAG"}, 412),
    ({"If-Match": "garbage"}, 412),
    # If-Unmodified-Since, ignored when If-Match is present.
    ({"If-Unmodified-Since": LAST_MODIFIED}, 200),
    ({"If-Unmodified-Since": AFTER}, 200),
    ({"If-Unmodified-Since": BEFORE}, 412),
    ({"If-Unmodified-Since": "garbage"}, 200),
    ({"If-Match": "ETAG", "If-Unmodified-Since": BEFORE}, 200),
    # If-Match is evaluated before If-None-Match.
    ({"If-Match": '"other"', "If-None-Match": "ETAG"}, 412),
    ({"If-Match": "ETAG", "If-None-Match": "ETAG"}, 304),
]


@pytest.mark.parametrize(("headers", "status"), CONDITIONS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_conditional_requests(
    root: Path, headers: Headers, status: int, method: str
) -> None:
    etag = etag_of(root)
    headers = {name: value.replace("ETAG", etag) for name, value in headers.items()}
    result = get(root, "/hello.txt", method, headers)
    assert result.code == status
    if status == 200:
        assert result.body == (b"Hello, world!\n" if method == "GET" else b"")


def test_not_modified_response(root: Path) -> None:
    etag = etag_of(root)
    result = get(root, "/hello.txt", headers={"If-None-Match": etag}, max_age=30)
    assert result.status == "304 Not Modified"
    assert result.header_list == [
        ("ETag", etag),
        ("Last-Modified", LAST_MODIFIED),
        ("Cache-Control", "max-age=30"),
    ]
    assert result.body == b""


def test_not_modified_through_webtest(root: Path) -> None:
    app = webtest.TestApp(StaticFiles(root))
    first = app.get("/hello.txt")
    again = app.get(
        "/hello.txt", headers={"If-None-Match": first.headers["ETag"]}, status=304
    )
    assert again.body == b""
    since = app.get(
        "/hello.txt",
        headers={"If-Modified-Since": first.headers["Last-Modified"]},
        status=304,
    )
    assert since.headers["ETag"] == first.headers["ETag"]


def test_precondition_failed_response(root: Path) -> None:
    result = get(root, "/hello.txt", headers={"If-Match": '"other"'})
    assert result.status == "412 Precondition Failed"
    assert result.body == b"Precondition Failed\n"


def test_conditions_do_not_apply_to_missing_files(root: Path) -> None:
    assert get(root, "/missing.txt", headers={"If-None-Match": "*"}).code == 404


def test_modified_file_is_sent_again(root: Path) -> None:
    etag = etag_of(root)
    (root / "hello.txt").write_bytes(b"changed\n")
    result = get(
        root,
        "/hello.txt",
        headers={"If-None-Match": etag, "If-Modified-Since": LAST_MODIFIED},
    )
    assert (result.code, result.body) == (200, b"changed\n")


# -- Ranges ------------------------------------------------------------------

# (Range header, status, Content-Range, (start, stop) of DATA in the body).
RANGES: List[Tuple[str, int, Optional[str], Tuple[int, int]]] = [
    ("bytes=0-9", 206, "bytes 0-9/100", (0, 10)),
    ("bytes=0-0", 206, "bytes 0-0/100", (0, 1)),
    ("bytes=99-99", 206, "bytes 99-99/100", (99, 100)),
    ("bytes=90-", 206, "bytes 90-99/100", (90, 100)),
    ("bytes=0-", 206, "bytes 0-99/100", (0, 100)),
    ("bytes=-10", 206, "bytes 90-99/100", (90, 100)),
    ("bytes=-100", 206, "bytes 0-99/100", (0, 100)),
    ("bytes=-1000", 206, "bytes 0-99/100", (0, 100)),
    ("bytes=95-1000", 206, "bytes 95-99/100", (95, 100)),
    ("bytes=0-99999999999999999999999", 206, "bytes 0-99/100", (0, 100)),
    ("bytes=-99999999999999999999999", 206, "bytes 0-99/100", (0, 100)),
    # Range units are case-insensitive; list elements may be empty.
    ("BYTES=0-9", 206, "bytes 0-9/100", (0, 10)),
    ("bytes=0-9,", 206, "bytes 0-9/100", (0, 10)),
    ("bytes= ,0-9 , ", 206, "bytes 0-9/100", (0, 10)),
    # Unsatisfiable ranges are dropped when another one remains.
    ("bytes=0-9,200-300", 206, "bytes 0-9/100", (0, 10)),
    ("bytes=-0,10-19", 206, "bytes 10-19/100", (10, 20)),
    # Nothing satisfiable.
    ("bytes=100-", 416, "bytes */100", (0, 0)),
    ("bytes=100-200", 416, "bytes */100", (0, 0)),
    ("bytes=-0", 416, "bytes */100", (0, 0)),
    ("bytes=100-,-0", 416, "bytes */100", (0, 0)),
    ("bytes=99999999999999999999999-", 416, "bytes */100", (0, 0)),
    # Invalid or unknown: the header is ignored and the file is sent.
    ("bytes=9-0", 200, None, (0, 100)),
    ("bytes=a-b", 200, None, (0, 100)),
    ("bytes=1-a", 200, None, (0, 100)),
    ("bytes=-a", 200, None, (0, 100)),
    ("bytes=5", 200, None, (0, 100)),
    ("bytes=", 200, None, (0, 100)),
    ("bytes=,", 200, None, (0, 100)),
    ("bytes=0 - 9", 200, None, (0, 100)),
    ("bytes=+1-2", 200, None, (0, 100)),
    ("bytes=0-9,x", 200, None, (0, 100)),
    ("bytes=\u0661-\u0662", 200, None, (0, 100)),  # non-ASCII digits
    ("bytes 0-9", 200, None, (0, 100)),
    ("items=0-9", 200, None, (0, 100)),
    ("", 200, None, (0, 100)),
    # Overlapping ranges and too many ranges are ignored.
    ("bytes=0-10,5-15", 200, None, (0, 100)),
    ("bytes=0-,-1", 200, None, (0, 100)),
    ("bytes=" + ",".join(f"{n}-{n}" for n in range(0, 34, 2)), 200, None, (0, 100)),
]


@pytest.mark.parametrize(("header", "status", "content_range", "span"), RANGES)
def test_range_requests(
    root: Path,
    header: str,
    status: int,
    content_range: Optional[str],
    span: Tuple[int, int],
) -> None:
    result = get(root, "/data.bin", headers={"Range": header})
    assert result.code == status
    assert result.headers.get("content-range") == content_range
    if status == 416:
        assert result.body == b"Range Not Satisfiable\n"
        assert result.headers["content-type"] == "text/plain; charset=utf-8"
        return
    start, stop = span
    assert result.body == DATA[start:stop]
    assert result.headers["content-length"] == str(stop - start)
    assert result.headers["content-type"] == "application/octet-stream"
    assert result.headers["accept-ranges"] == "bytes"
    assert "etag" in result.headers


def test_max_ranges_option(root: Path) -> None:
    header = "bytes=0-0,2-2,4-4"
    assert get(root, "/data.bin", headers={"Range": header}, max_ranges=2).code == 200
    assert get(root, "/data.bin", headers={"Range": header}, max_ranges=3).code == 206


def parse_multipart_byteranges(result: Result) -> List[Tuple[str, str, bytes]]:
    """Split a multipart/byteranges body with the standard library's parser."""
    content_type = result.headers["content-type"]
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + result.body
    )
    assert message.is_multipart()
    parts = []
    for part in message.get_payload():  # type: ignore[union-attr]
        payload = part.get_payload(decode=True)
        parts.append((part["Content-Type"], part["Content-Range"], payload))
    return parts


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-1,10-11", [(0, 1), (10, 11)]),
        # Request order is kept.
        ("bytes=90-,0-4", [(90, 99), (0, 4)]),
        ("bytes=-5,0-0,50-59", [(95, 99), (0, 0), (50, 59)]),
        # Adjacent ranges do not overlap.
        ("bytes=0-9,10-19", [(0, 9), (10, 19)]),
        # Unsatisfiable ranges are left out of the parts.
        ("bytes=0-1,500-,20-21", [(0, 1), (20, 21)]),
    ],
)
def test_multiple_ranges(
    root: Path, header: str, expected: List[Tuple[int, int]]
) -> None:
    result = get(root, "/data.bin", headers={"Range": header})
    assert result.status == "206 Partial Content"
    assert result.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert "content-range" not in result.headers
    assert result.headers["content-length"] == str(len(result.body))
    parts = parse_multipart_byteranges(result)
    assert parts == [
        (
            "application/octet-stream",
            f"bytes {first}-{last}/100",
            DATA[first : last + 1],
        )
        for first, last in expected
    ]
    # The exact framing of RFC 2046: no CRLF before the first delimiter.
    boundary = result.headers["content-type"].split("boundary=")[1]
    assert result.body.startswith(f"--{boundary}\r\n".encode())
    assert result.body.endswith(f"\r\n--{boundary}--\r\n".encode())


def test_multipart_boundaries_differ(root: Path) -> None:
    headers = {"Range": "bytes=0-0,2-2"}
    first = get(root, "/data.bin", headers=headers).headers["content-type"]
    second = get(root, "/data.bin", headers=headers).headers["content-type"]
    assert first != second


def test_range_of_empty_file_sends_it_whole(root: Path) -> None:
    for header in ("bytes=0-", "bytes=-5", "bytes=0-0"):
        result = get(root, "/empty.txt", headers={"Range": header})
        assert (result.code, result.body) == (200, b"")
        assert result.headers["content-length"] == "0"


IF_RANGE: List[Tuple[str, int]] = [
    ("ETAG", 206),
    ("W/ETAG", 200),  # the strong comparison: a weak tag never matches
    ('"other"', 200),
    (LAST_MODIFIED, 206),
    ("Sunday, 09-Sep-01 01:46:40 GMT", 206),
    (BEFORE, 200),
    (AFTER, 200),  # an exact match is required
    ("garbage", 200),
]


@pytest.mark.parametrize(("if_range", "status"), IF_RANGE)
def test_if_range(root: Path, if_range: str, status: int) -> None:
    etag = etag_of(root, "/data.bin")
    headers = {"Range": "bytes=0-9", "If-Range": if_range.replace("ETAG", etag)}
    result = get(root, "/data.bin", headers=headers)
    assert result.code == status
    assert result.body == (DATA[:10] if status == 206 else DATA)


def test_if_range_without_range_is_ignored(root: Path) -> None:
    result = get(root, "/data.bin", headers={"If-Range": '"other"'})
    assert (result.code, result.body) == (200, DATA)


def test_if_range_does_not_turn_416_into_200_when_current(root: Path) -> None:
    etag = etag_of(root, "/data.bin")
    headers = {"Range": "bytes=500-", "If-Range": etag}
    assert get(root, "/data.bin", headers=headers).code == 416
    headers = {"Range": "bytes=500-", "If-Range": '"stale"'}
    assert get(root, "/data.bin", headers=headers).code == 200


def test_not_modified_wins_over_range(root: Path) -> None:
    etag = etag_of(root, "/data.bin")
    headers = {"Range": "bytes=0-9", "If-None-Match": etag}
    assert get(root, "/data.bin", headers=headers).code == 304


def test_ranges_through_webtest(root: Path) -> None:
    app = webtest.TestApp(StaticFiles(root))
    partial = app.get("/data.bin", headers={"Range": "bytes=10-19"}, status=206)
    assert partial.body == DATA[10:20]
    assert partial.headers["Content-Range"] == "bytes 10-19/100"
    refused = app.get("/data.bin", headers={"Range": "bytes=100-"}, status=416)
    assert refused.headers["Content-Range"] == "bytes */100"


# -- Streaming big files -----------------------------------------------------

BIG_SIZE = 5 * 2**20


@pytest.fixture
def big(root: Path) -> bytes:
    data = hashlib.sha256(b"seed").digest() * (BIG_SIZE // 32)
    (root / "big.bin").write_bytes(data)
    return data


class RecordingWrapper:
    """A wsgi.file_wrapper that records how it was called."""

    instances: List[RecordingWrapper] = []

    def __init__(self, file: Any, block_size: int = 8192) -> None:
        self.file = file
        self.block_size = block_size
        self.closed = False
        RecordingWrapper.instances.append(self)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.file.read(self.block_size)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.closed = True
        self.file.close()


def test_big_file_streamed_in_chunks(root: Path, big: bytes) -> None:
    environ = make_environ("/big.bin")
    assert "wsgi.file_wrapper" not in environ
    response = serve_static(environ, root, "big.bin")
    sizes = []
    digest = hashlib.sha256()
    for chunk in response.body:
        sizes.append(len(chunk))
        digest.update(chunk)
    response.close()
    assert digest.digest() == hashlib.sha256(big).digest()
    assert sizes == [65536] * (BIG_SIZE // 65536)
    assert response.headers[1] == ("Content-Length", str(BIG_SIZE))


def test_chunk_size_option(root: Path, big: bytes) -> None:
    response = serve_static(make_environ(), root, "big.bin", chunk_size=1_000_000)
    sizes = [len(chunk) for chunk in response.body]
    response.close()
    assert sizes == [1_000_000] * 5 + [BIG_SIZE - 5_000_000]


def test_big_file_through_file_wrapper(root: Path, big: bytes) -> None:
    RecordingWrapper.instances.clear()
    environ = make_environ("/big.bin", **{"wsgi.file_wrapper": RecordingWrapper})
    result = call(StaticFiles(root, chunk_size=32768), environ)
    assert result.body == big
    (wrapper,) = RecordingWrapper.instances
    assert wrapper.block_size == 32768
    assert wrapper.closed and wrapper.file.closed


def test_wsgiref_file_wrapper(root: Path, big: bytes) -> None:
    environ = make_environ(
        "/big.bin", **{"wsgi.file_wrapper": wsgiref.util.FileWrapper}
    )
    response = serve_static(environ, root, "big.bin")
    assert isinstance(response.body, wsgiref.util.FileWrapper)
    assert b"".join(response.body) == big
    response.close()


def test_ranges_do_not_use_the_file_wrapper(root: Path, big: bytes) -> None:
    RecordingWrapper.instances.clear()
    environ = make_environ(
        "/big.bin",
        headers={"Range": "bytes=1000000-2999999"},
        **{"wsgi.file_wrapper": RecordingWrapper},
    )
    result = call(StaticFiles(root), environ)
    assert result.code == 206
    assert result.body == big[1_000_000:3_000_000]
    assert RecordingWrapper.instances == []


def test_big_file_through_webtest(root: Path, big: bytes) -> None:
    app = webtest.TestApp(StaticFiles(root))
    assert app.get("/big.bin").body == big


def test_file_that_shrinks_while_sent(root: Path) -> None:
    path = root / "shrinking.bin"
    path.write_bytes(b"x" * 200_000)
    response = serve_static(make_environ(), root, "shrinking.bin", chunk_size=50_000)
    chunks = iter(response.body)
    assert next(chunks) == b"x" * 50_000
    path.write_bytes(b"x" * 70_000)
    assert b"".join(chunks) == b"x" * 20_000
    response.close()


# -- Releasing the file --------------------------------------------------------


@needs_proc
@pytest.mark.parametrize(
    ("headers", "extra"),
    [
        ({}, {}),
        ({}, {"wsgi.file_wrapper": wsgiref.util.FileWrapper}),
        ({"Range": "bytes=0-70000"}, {}),
        ({"Range": "bytes=0-0,70000-"}, {}),
    ],
    ids=["chunks", "file_wrapper", "range", "multipart"],
)
def test_closing_early_releases_the_file(
    root: Path, big: bytes, headers: Headers, extra: Dict[str, Any]
) -> None:
    before = open_fds()
    response = serve_static(make_environ(headers=headers, **extra), root, "big.bin")
    assert open_fds() == before + 1
    chunks = iter(response.body)
    next(chunks)
    # The client went away: the server closes the iterable.
    response.body.close()  # type: ignore[attr-defined]
    assert open_fds() == before
    response.close()  # again: harmless
    assert open_fds() == before


@needs_proc
def test_closing_before_iterating_releases_the_file(root: Path, big: bytes) -> None:
    before = open_fds()
    response = serve_static(make_environ(), root, "big.bin")
    assert open_fds() == before + 1
    response.close()
    assert open_fds() == before
    assert list(response.body) == []


@needs_proc
def test_exhausting_the_body_releases_the_file(root: Path) -> None:
    before = open_fds()
    response = serve_static(make_environ(), root, "hello.txt")
    assert b"".join(response.body) == b"Hello, world!\n"
    assert open_fds() == before


@needs_proc
@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/hello.txt", "HEAD", {}),
        ("/hello.txt", "GET", {"If-None-Match": "*"}),
        ("/hello.txt", "GET", {"If-Match": '"other"'}),
        ("/hello.txt", "GET", {"Range": "bytes=500-"}),
        ("/sub", "GET", {}),
        ("/missing", "GET", {}),
        ("/hello.txt", "POST", {}),
    ],
)
def test_bodiless_responses_hold_no_file(
    root: Path, path: str, method: str, headers: Headers
) -> None:
    before = open_fds()
    response = serve_static(make_environ(path, method, headers), root, path)
    assert open_fds() == before
    response.close()


@needs_proc
def test_file_is_closed_when_building_the_response_fails(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wsocket.static

    def broken(*args: Any) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(wsocket.static, "_content_type", broken)
    before = open_fds()
    with pytest.raises(RuntimeError):
        serve_static(make_environ(), root, "hello.txt")
    assert open_fds() == before


# -- Options ----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"chunk_size": 0},
        {"max_ranges": 0},
        {"index": ""},
        {"index": "../index.html"},
        {"index": "a/b.html"},
        {"index": ".."},
        {"index": "C:index.html"},
    ],
)
def test_invalid_options(root: Path, options: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        StaticFiles(root, **options)
    with pytest.raises(ValueError):
        serve_static(make_environ(), root, "hello.txt", **options)


def test_root_must_be_a_directory(root: Path) -> None:
    with pytest.raises(NotADirectoryError):
        StaticFiles(root / "hello.txt")
    with pytest.raises(NotADirectoryError):
        StaticFiles(root / "missing")


def test_serve_static_with_missing_root(tmp_path: Path) -> None:
    response = serve_static(make_environ(), tmp_path / "missing", "hello.txt")
    assert response.status_code == 404


# -- HTTP dates -------------------------------------------------------------


def test_http_date() -> None:
    assert http_date(MTIME) == LAST_MODIFIED
    assert http_date(MTIME + 0.9) == LAST_MODIFIED
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (LAST_MODIFIED, MTIME),
        (f"  {LAST_MODIFIED}\t", MTIME),
        ("Sunday, 09-Sep-01 01:46:40 GMT", MTIME),
        ("Sun Sep  9 01:46:40 2001", MTIME),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Thursday, 01-Jan-98 00:00:00 GMT", 883612800),  # 98 is 1998
        ("Wed, 29 Feb 2012 00:00:00 GMT", 1330473600),
        ("sun, 09 Sep 2001 01:46:40 GMT", None),  # case-sensitive names
        ("Sun, 09 Sep 2001 01:46:40 UTC", None),
        ("Sun, 9 Sep 2001 01:46:40 GMT", None),
        ("Sun, 09 Sep 2001 24:00:00 GMT", None),
        ("Sun, 32 Sep 2001 01:46:40 GMT", None),
        ("Sun, 00 Sep 2001 01:46:40 GMT", None),
        ("Sun, 09 Foo 2001 01:46:40 GMT", None),
        ("Sun, 09 Sep 2001 01:60:40 GMT", None),
        ("Sat, 31 Feb 2001 00:00:00 GMT", None),
        ("Sat, 30 Jun 2001 23:59:60 GMT", 993945600),  # a leap second
        ("Sun, \u0660\u0669 Sep 2001 01:46:40 GMT", None),  # non-ASCII digits
        ("2001-09-09T01:46:40Z", None),
        ("", None),
    ],
)
def test_parse_http_date(value: str, expected: Optional[int]) -> None:
    assert parse_http_date(value) == expected


def test_parse_http_date_two_digit_year_window() -> None:
    # RFC 9110 section 5.6.7: more than 50 years in the future means the
    # previous century.
    assert parse_http_date("Monday, 01-Jan-01 00:00:00 GMT") == 978307200
    assert parse_http_date("Friday, 01-Jan-99 00:00:00 GMT") == 915148800


# -- The example ----------------------------------------------------------------


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "static_demo"


@pytest.fixture(scope="module")
def demo() -> webtest.TestApp:
    spec = importlib.util.spec_from_file_location(
        "static_demo_serve", EXAMPLE / "serve.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return webtest.TestApp(module.app)


def test_example_serves_its_files(demo: webtest.TestApp) -> None:
    page = demo.get("/")
    assert page.content_type == "text/html"
    assert b"<h1>wsocket static demo</h1>" in page.body
    assert page.headers["Cache-Control"] == "max-age=60"
    assert (
        demo.get("/hello.txt").body == (EXAMPLE / "public" / "hello.txt").read_bytes()
    )
    demo.get("/../serve.py", status=404)
    demo.get("/style.css", headers={"If-None-Match": "*"}, status=304)


def test_example_download_route(demo: webtest.TestApp) -> None:
    response = demo.get("/download/hello.txt", headers={"Range": "bytes=0-4"})
    assert response.status_int == 206
    assert response.body == (EXAMPLE / "public" / "hello.txt").read_bytes()[:5]
    demo.get("/download/../serve.py", status=404)


def test_example_upload(demo: webtest.TestApp) -> None:
    response = demo.post(
        "/upload",
        {"title": "notes"},
        upload_files=[("file", "notes.txt", b"line 1\nline 2\n", "text/plain")],
    )
    assert response.json == {
        "title": "notes",
        "files": [{"field": "file", "filename": "notes.txt", "size": 14}],
    }


def test_example_echo(demo: webtest.TestApp) -> None:
    response = demo.get("/echo?name=caf%C3%A9&name=tea", headers={"X-Demo": "1"})
    assert response.json["query"] == {"name": ["caf\u00e9", "tea"]}
    assert response.json["headers"]["X-Demo"] == "1"


@pytest.mark.integration  # the example serves in a subprocess
@pytest.mark.timeout(30)
def test_example_runs_as_a_script() -> None:
    # `python examples/static_demo/serve.py --port N`, as its docstring says,
    # under wsocket's own server.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = str(EXAMPLE.parent.parent)
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "serve.py"), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the example did not start"
                time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/hello.txt", headers={"Range": "bytes=0-4"})
        response = connection.getresponse()
        assert response.status == 206
        assert response.read() == b"Hello"
        connection.request("GET", "/%2e%2e/serve.py")
        response = connection.getresponse()
        assert (response.status, response.read()) == (404, NOT_FOUND)
        connection.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stderr.close()  # type: ignore[union-attr]
