"""Serve the files of a directory: validators, conditional requests and ranges.

Two entry points share one implementation:

* :func:`serve_static` answers one request for one path below a root
  directory and returns a :class:`StaticResponse`, a WSGI app that a
  framework can return from a handler;
* :class:`StaticFiles` is a WSGI app that serves a whole directory, the
  file being named by ``PATH_INFO``.

Strategy: the path is checked segment by segment before the file system is
touched, then resolved with :func:`os.path.realpath` and kept only if the
result is still inside the (resolved) root. Whatever fails along the way,
from a ``..`` segment to a permission error, is answered ``404 Not Found``
with the same body, so that a client learns nothing about what exists
outside the root. The file is opened once and described with ``fstat`` on
the open descriptor, so that the headers always match the bytes sent.

HTTP semantics follow :rfc:`9110`: validators (section 8.8), the
precedence of preconditions (section 13.2.2) and range requests
(section 14).
"""

from __future__ import annotations

import calendar
import datetime
import mimetypes
import os
import re
import secrets
import stat
import time
from typing import (
    TYPE_CHECKING,
    BinaryIO,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "StaticFiles",
    "StaticResponse",
    "serve_static",
    "http_date",
    "parse_http_date",
]

#: Size of the reads (and of the chunks handed to the server), in bytes.
DEFAULT_CHUNK_SIZE = 65536

#: Beyond this many ranges in one ``Range`` header, the whole file is sent.
DEFAULT_MAX_RANGES = 16

_REASONS = {
    200: "OK",
    206: "Partial Content",
    304: "Not Modified",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    416: "Range Not Satisfiable",
}

# A piece of a response body: literal bytes, or (offset, length) in the file.
_Piece = Union[bytes, Tuple[int, int]]


class StaticResponse:
    """The answer to one static file request, ready for a WSGI server.

    It is a WSGI app: return ``response(environ, start_response)`` from an
    app, or read :attr:`status`, :attr:`headers` and :attr:`body` to build
    another kind of response. It answers one request only: its body can be
    iterated once.

    When the response is not used after all, call :meth:`close` to release
    the open file.

    Attributes:
        status: the status line, such as ``"206 Partial Content"``.
        headers: the response headers, in the order they should be sent.
        body: the body, an iterable of :class:`bytes` with a ``close()``
            method, which the server calls once done (:pep:`3333`).
    """

    def __init__(
        self, status: str, headers: List[Tuple[str, str]], body: Iterable[bytes]
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def status_code(self) -> int:
        """The status code, such as ``206``."""
        return int(self.status[:3])

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Start the response and return the body (the WSGI protocol).

        Args:
            environ: the environ of the request; the response was already
                computed for it by :func:`serve_static`.
            start_response: the server's ``start_response``.

        Returns:
            :attr:`body`.
        """
        start_response(self.status, list(self.headers))
        return self.body

    def close(self) -> None:
        """Release the file behind the body. Calling it again does nothing."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"<StaticResponse {self.status}>"


class _FileBody:
    """Pieces of an open file (and literal bytes), read in chunks.

    Iterating reads each ``(offset, length)`` piece with at most
    ``chunk_size`` bytes per read. The file is closed when the iteration
    ends and by :meth:`close`, which the WSGI server calls even when the
    client went away in the middle of the body.
    """

    def __init__(
        self, file: Optional[BinaryIO], pieces: Sequence[_Piece], chunk_size: int
    ) -> None:
        self._file = file
        self._pieces = pieces
        self._chunk_size = chunk_size

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        try:
            for piece in self._pieces:
                if isinstance(piece, bytes):
                    if piece:
                        yield piece
                    continue
                file = self._file
                if file is None:  # closed by close(): nothing more to send
                    return
                offset, remaining = piece
                file.seek(offset)
                while remaining > 0:
                    chunk = file.read(min(self._chunk_size, remaining))
                    if not chunk:
                        # The file shrank since it was opened: the server
                        # sees fewer bytes than Content-Length and closes.
                        return
                    remaining -= len(chunk)
                    yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Close the file; calling it again does nothing."""
        file, self._file = self._file, None
        if file is not None:
            file.close()


# -- Paths ------------------------------------------------------------------


def _resolve(
    root: str, path: str, *, index: Optional[str], allow_hidden: bool
) -> Optional[str]:
    """Map a URL path below ``root`` to a file system path, or ``None``.

    ``root`` must already be resolved with :func:`os.path.realpath`. The
    path is never percent-decoded here: a WSGI server decoded it once, and a
    second decoding is how ``%252e%252e`` becomes ``..``.
    """
    # NUL ends a C string; a backslash is a separator on Windows. Neither has
    # a legitimate use in a URL path that names a file.
    if "\x00" in path or "\\" in path:
        return None
    wants_directory = path == "" or path.endswith("/")
    segments: List[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            return None
        # "C:" is a drive on Windows, "name:stream" an NTFS alternate data
        # stream; refused on every platform so that behaviour is the same.
        if ":" in segment:
            return None
        if segment.startswith(".") and not allow_hidden:
            return None
        segments.append(segment)
    if wants_directory:
        if index is None:
            return None
        segments.append(index)
    elif not segments:
        return None
    real = os.path.realpath(os.path.join(root, *segments))
    try:
        if os.path.commonpath([root, real]) != root:
            return None  # a symbolic link points outside the root
    except ValueError:  # different drives on Windows
        return None
    return real


def _open_regular_file(path: str) -> Optional[Tuple[BinaryIO, os.stat_result]]:
    """Open a regular file for reading, or return ``None``.

    ``O_NONBLOCK`` keeps ``open`` from hanging on a FIFO; ``fstat`` on the
    open descriptor then refuses anything but a regular file, without the
    race of a ``stat`` before the ``open``.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        file: BinaryIO = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return file, info


# -- Header values ----------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTHS, 1)}

# RFC 9110 section 5.6.7: IMF-fixdate, then the two obsolete formats that
# recipients must accept.
_IMF_FIXDATE = re.compile(
    r"[A-Z][a-z]{2}, (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT",
    re.ASCII,
)
_RFC850_DATE = re.compile(
    r"[A-Z][a-z]{5,8}, (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT",
    re.ASCII,
)
_ASCTIME_DATE = re.compile(
    r"[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})",
    re.ASCII,
)


def http_date(timestamp: float) -> str:
    """Format a POSIX timestamp as an IMF-fixdate (:rfc:`9110` section 5.6.7).

    The names of days and months are English whatever the locale.
    """
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} "
        f"{t.tm_year:04d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def parse_http_date(value: str) -> Optional[int]:
    """Parse an HTTP-date in any of its three formats; ``None`` if invalid.

    Returns:
        The POSIX timestamp, in whole seconds.
    """
    value = value.strip(" \t")
    match = _IMF_FIXDATE.fullmatch(value)
    if match:
        day, month, year, hour, minute, second = match.groups()
    else:
        match = _RFC850_DATE.fullmatch(value)
        if match:
            day, month, short_year, hour, minute, second = match.groups()
            # "Recipients of a timestamp value in rfc850-date format, which
            # uses a two-digit year, MUST interpret a timestamp that appears
            # to be more than 50 years in the future as representing the
            # most recent year in the past that had the same last two digits."
            this_year = time.gmtime().tm_year
            full_year = this_year - this_year % 100 + int(short_year)
            if full_year > this_year + 50:
                full_year -= 100
            year = str(full_year)
        else:
            match = _ASCTIME_DATE.fullmatch(value)
            if not match:
                return None
            month, day, hour, minute, second, year = match.groups()
    month_number = _MONTH_NUMBERS.get(month)
    if month_number is None:
        return None
    second_number = int(second)
    try:
        # Rejects 31 Feb and 24:00; a leap second (60) is allowed.
        moment = datetime.datetime(
            int(year),
            month_number,
            int(day),
            int(hour),
            int(minute),
            min(second_number, 59),
            tzinfo=datetime.timezone.utc,
        )
    except ValueError:
        return None
    return calendar.timegm(moment.utctimetuple()) + (second_number - moment.second)


def _entity_tags(value: str) -> Tuple[bool, List[Tuple[bool, str]]]:
    """Parse ``If-Match`` / ``If-None-Match``: ``"*"`` or a list of tags.

    Returns:
        ``(True, [])`` for ``*``, else ``(False, [(weak, opaque_tag)])``
        where ``opaque_tag`` keeps its double quotes. Malformed elements
        are skipped.
    """
    if value.strip(" \t") == "*":
        return True, []
    tags: List[Tuple[bool, str]] = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and value[pos] in " \t,":
            pos += 1
        if pos == end:
            break
        weak = value.startswith("W/", pos)
        if weak:
            pos += 2
        closing = value.find('"', pos + 1) if value.startswith('"', pos) else -1
        if closing < 0:
            # Not an entity-tag: skip to the next list element.
            comma = value.find(",", pos)
            pos = end if comma < 0 else comma + 1
            continue
        tags.append((weak, value[pos : closing + 1]))
        pos = closing + 1
    return False, tags


def _content_type(path: str) -> str:
    """Guess the media type of a file from its name."""
    name = os.path.basename(path)
    guess = getattr(mimetypes, "guess_file_type", mimetypes.guess_type)
    media_type, encoding = guess(name)
    if encoding is not None:
        # "archive.tar.gz" is a gzip file. Announcing application/x-tar with
        # Content-Encoding: gzip would make clients decompress it on the fly.
        return _COMPRESSED.get(encoding, "application/octet-stream")
    if media_type is None:
        return "application/octet-stream"
    if media_type.startswith("text/") or media_type == "application/javascript":
        return f"{media_type}; charset=utf-8"
    return media_type


_COMPRESSED = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}

_DIGITS = re.compile(r"[0-9]+")

# Larger than any file: positions with more digits are clamped to it, which
# also keeps int() away from its limit on the length of digit strings.
_HUGE = 10**18


def _position(digits: str) -> int:
    return int(digits) if len(digits) < 19 else _HUGE


def _parse_range(
    value: str, size: int, max_ranges: int
) -> Optional[List[Tuple[int, int]]]:
    """Parse a ``Range`` header (:rfc:`9110` section 14.1.2) for a file.

    Returns:
        ``None`` when the header is to be ignored (another unit, invalid
        syntax, an empty file, too many ranges, overlapping ranges), else
        the satisfiable ranges as ``(first, last)`` byte positions, in
        request order; an empty list means none is satisfiable (416).
    """
    unit, equals, range_set = value.partition("=")
    # "An origin server MUST ignore a Range header field that contains a
    # range unit it does not understand." Range units are case-insensitive.
    if not equals or unit.strip(" \t").lower() != "bytes":
        return None
    if size == 0:
        # Only a suffix range could be satisfiable, and it would select
        # nothing: sending the (empty) representation is simpler and valid.
        return None
    ranges: List[Tuple[int, int]] = []
    specs = 0
    for spec in range_set.split(","):
        spec = spec.strip(" \t")
        if not spec:
            continue  # empty list elements are allowed (RFC 9110 5.6.1)
        first, dash, last = spec.partition("-")
        if not dash:
            return None
        specs += 1
        if not first:
            # suffix-range: the last N bytes.
            if not _DIGITS.fullmatch(last):
                return None
            length = _position(last)
            if length > 0:
                ranges.append((max(0, size - length), size - 1))
            continue
        if not _DIGITS.fullmatch(first) or (last and not _DIGITS.fullmatch(last)):
            return None
        start = _position(first)
        stop = _position(last) if last else _HUGE
        if stop < start:
            # "A range-spec is invalid if ... the last-pos value is present
            # and less than the first-pos": the whole header is invalid.
            return None
        if start < size:
            ranges.append((start, min(stop, size - 1)))
    if specs == 0:
        return None
    if len(ranges) > max_ranges:
        return None
    ordered = sorted(ranges)
    for (_, previous_last), (first_pos, _) in zip(ordered, ordered[1:]):
        if first_pos <= previous_last:
            # RFC 9110 section 17.15: a server may ignore overlapping ranges,
            # which serve no purpose but amplifying the response.
            return None
    return ranges


# -- Responses --------------------------------------------------------------


def _status(code: int) -> str:
    return f"{code} {_REASONS[code]}"


def _error(
    code: int, method: str, extra: Sequence[Tuple[str, str]] = ()
) -> StaticResponse:
    """A short plain text response; the body is left out for ``HEAD``."""
    text = _REASONS[code].encode("ascii") + b"\n"
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(text))),
        *extra,
    ]
    body = [] if method == "HEAD" else [text]
    return StaticResponse(_status(code), headers, _FileBody(None, body, len(text)))


def _preconditions(environ: WSGIEnvironment, etag: str, mtime: int) -> Optional[int]:
    """Evaluate the preconditions in the order of :rfc:`9110` section 13.2.2.

    Returns:
        ``412``, ``304``, or ``None`` to go on with the request.
    """
    # Step 1: If-Match, with the strong comparison. Our ETag is strong.
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None:
        star, tags = _entity_tags(if_match)
        if not star and (False, etag) not in tags:
            return 412
    else:
        # Step 2: If-Unmodified-Since, only without If-Match.
        if_unmodified = environ.get("HTTP_IF_UNMODIFIED_SINCE")
        if if_unmodified is not None:
            date = parse_http_date(if_unmodified)
            if date is not None and mtime > date:
                return 412
    # Step 3: If-None-Match, with the weak comparison; for GET and HEAD a
    # false condition is answered 304 Not Modified.
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        star, tags = _entity_tags(if_none_match)
        if star or any(tag == etag for _, tag in tags):
            return 304
    else:
        # Step 4: If-Modified-Since, only without If-None-Match. An invalid
        # date is ignored.
        if_modified = environ.get("HTTP_IF_MODIFIED_SINCE")
        if if_modified is not None:
            date = parse_http_date(if_modified)
            if date is not None and mtime <= date:
                return 304
    return None


def _if_range(value: str, etag: str, mtime: int) -> bool:
    """Evaluate ``If-Range`` (:rfc:`9110` section 13.1.5)."""
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):
        # Strong comparison: a weak tag never matches.
        return value == etag
    return parse_http_date(value) == mtime


def _serve(
    environ: WSGIEnvironment,
    root: str,
    path: Optional[str],
    *,
    max_age: Optional[int],
    chunk_size: int,
    index: Optional[str],
    allow_hidden: bool,
    max_ranges: int,
) -> StaticResponse:
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if method not in ("GET", "HEAD"):
        return _error(405, method, [("Allow", "GET, HEAD")])
    real = None
    if path is not None:
        real = _resolve(root, path, index=index, allow_hidden=allow_hidden)
    opened = None if real is None else _open_regular_file(real)
    if real is None or opened is None:
        return _error(404, method)
    file, info = opened
    try:
        return _file_response(
            environ, method, file, info, real, max_age, chunk_size, max_ranges
        )
    except BaseException:
        file.close()
        raise


def _file_response(
    environ: WSGIEnvironment,
    method: str,
    file: BinaryIO,
    info: os.stat_result,
    real: str,
    max_age: Optional[int],
    chunk_size: int,
    max_ranges: int,
) -> StaticResponse:
    size = info.st_size
    mtime = int(info.st_mtime)
    # Size and modification time in nanoseconds: a change that keeps both is
    # rare enough for the tag to be used as a strong validator.
    etag = f'"{size:x}-{info.st_mtime_ns:x}"'
    validators = [("ETag", etag), ("Last-Modified", http_date(mtime))]
    if max_age is not None:
        validators.append(("Cache-Control", f"max-age={max_age}"))

    condition = _preconditions(environ, etag, mtime)
    if condition == 412:
        file.close()
        return _error(412, method)
    if condition == 304:
        # RFC 9110 section 15.4.5: no content, and no metadata about it
        # beyond the validators and caching headers.
        file.close()
        return StaticResponse(_status(304), validators, _FileBody(None, [], 1))

    content_type = _content_type(real)
    ranges = None
    range_header = environ.get("HTTP_RANGE")
    # RFC 9110 section 14.2: GET is the only method with range handling, and
    # If-Range makes the Range header count only if the file is unchanged.
    if range_header is not None and method == "GET":
        if_range = environ.get("HTTP_IF_RANGE")
        if if_range is None or _if_range(if_range, etag, mtime):
            ranges = _parse_range(range_header, size, max_ranges)

    if ranges is not None and not ranges:
        file.close()
        return _error(416, method, [("Content-Range", f"bytes */{size}")])

    if ranges is not None and len(ranges) == 1:
        first, last = ranges[0]
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(last - first + 1)),
            ("Content-Range", f"bytes {first}-{last}/{size}"),
            ("Accept-Ranges", "bytes"),
            *validators,
        ]
        body = _FileBody(file, [(first, last - first + 1)], chunk_size)
        return StaticResponse(_status(206), headers, body)

    if ranges is not None:
        boundary = secrets.token_hex(16)
        pieces: List[_Piece] = []
        for number, (first, last) in enumerate(ranges):
            # RFC 2046 section 5.1.1: the CRLF before "--boundary" belongs to
            # the delimiter, so the first one has none.
            part_head = (
                f"--{boundary}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
            ).encode("latin-1")
            pieces.append(part_head if number == 0 else b"\r\n" + part_head)
            pieces.append((first, last - first + 1))
        pieces.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
        length = sum(len(p) if isinstance(p, bytes) else p[1] for p in pieces)
        headers = [
            ("Content-Type", f"multipart/byteranges; boundary={boundary}"),
            ("Content-Length", str(length)),
            ("Accept-Ranges", "bytes"),
            *validators,
        ]
        return StaticResponse(
            _status(206), headers, _FileBody(file, pieces, chunk_size)
        )

    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(size)),
        ("Accept-Ranges", "bytes"),
        *validators,
    ]
    full: Iterable[bytes]
    if method == "HEAD":
        file.close()
        full = _FileBody(None, [], chunk_size)
    else:
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            # PEP 3333: the wrapper's close() closes the file.
            full = wrapper(file, chunk_size)
        else:
            full = _FileBody(file, [(0, size)], chunk_size)
    return StaticResponse(_status(200), headers, full)


def _check_options(chunk_size: int, index: Optional[str], max_ranges: int) -> None:
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if max_ranges < 1:
        raise ValueError("max_ranges must be at least 1")
    if index is not None and (
        index in ("", ".", "..") or any(c in index for c in "/\\\x00:")
    ):
        raise ValueError("index must be a plain file name")


def serve_static(
    environ: WSGIEnvironment,
    root: Union[str, os.PathLike[str]],
    path: str,
    *,
    max_age: Optional[int] = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    index: Optional[str] = "index.html",
    allow_hidden: bool = False,
    max_ranges: int = DEFAULT_MAX_RANGES,
) -> StaticResponse:
    """Answer a request for the file at ``path`` below ``root``.

    The response is one of:

    * ``200 OK`` with the file (for ``HEAD``, the same headers and no body);
    * ``206 Partial Content`` for a satisfiable ``Range`` request: one range,
      or several as ``multipart/byteranges``;
    * ``304 Not Modified`` when ``If-None-Match`` or ``If-Modified-Since``
      shows that the client's copy is current;
    * ``404 Not Found`` when the path does not name a regular file inside
      ``root``, whatever the reason;
    * ``405 Method Not Allowed`` (with ``Allow: GET, HEAD``) for any other
      method;
    * ``412 Precondition Failed`` when ``If-Match`` or
      ``If-Unmodified-Since`` fails;
    * ``416 Range Not Satisfiable`` when no requested range overlaps the
      file.

    Args:
        environ: the :pep:`3333` environ of the request.
        root: the directory to serve files from.
        path: the path of the file relative to ``root``, with ``/``
            separators, as text: already percent-decoded once, and decoded
            from UTF-8 (``request.path`` or a route parameter, not the raw
            ``PATH_INFO``). It is never percent-decoded again.
        max_age: when set, adds ``Cache-Control: max-age=<max_age>``.
        chunk_size: the size of each read from the file, in bytes.
        index: the file served for a path ending with ``/`` (a directory),
            if that directory holds it; ``None`` answers 404 to such paths.
        allow_hidden: serve files and directories whose name starts with
            ``.``; they get 404 by default.
        max_ranges: a ``Range`` header with more ranges than this is ignored
            and the whole file is sent, a security limit.

    Returns:
        The response, a WSGI app; the file stays open until its body is
        exhausted or closed.

    Raises:
        ValueError: if an option is out of range.
    """
    _check_options(chunk_size, index, max_ranges)
    return _serve(
        environ,
        os.path.realpath(os.fspath(root)),
        path,
        max_age=max_age,
        chunk_size=chunk_size,
        index=index,
        allow_hidden=allow_hidden,
        max_ranges=max_ranges,
    )


class StaticFiles:
    """A WSGI app that serves the files of a directory.

    The file is named by ``PATH_INFO`` (decoded from UTF-8, :pep:`3333`), so
    the app can be mounted under a prefix by a dispatcher that moves the
    prefix to ``SCRIPT_NAME``. Responses are those of :func:`serve_static`.

    Args:
        root: the directory to serve.
        max_age: when set, adds ``Cache-Control: max-age=<max_age>``.
        chunk_size: the size of each read from a file, in bytes.
        index: the file served for a path ending with ``/``; ``None`` to
            answer 404 to directories.
        allow_hidden: serve names starting with ``.`` (404 by default).
        max_ranges: the most ranges honoured in one ``Range`` header.

    Raises:
        NotADirectoryError: if ``root`` is not a directory.
        ValueError: if an option is out of range.
    """

    def __init__(
        self,
        root: Union[str, os.PathLike[str]],
        *,
        max_age: Optional[int] = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        index: Optional[str] = "index.html",
        allow_hidden: bool = False,
        max_ranges: int = DEFAULT_MAX_RANGES,
    ) -> None:
        _check_options(chunk_size, index, max_ranges)
        self.root = os.path.realpath(os.fspath(root))
        if not os.path.isdir(self.root):
            raise NotADirectoryError(f"not a directory: {self.root}")
        self.max_age = max_age
        self.chunk_size = chunk_size
        self.index = index
        self.allow_hidden = allow_hidden
        self.max_ranges = max_ranges

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Serve the file that ``PATH_INFO`` names (the WSGI protocol)."""
        raw = str(environ.get("PATH_INFO", ""))
        path: Optional[str]
        try:
            path = raw.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            path = raw  # the server already decoded it to text
        except UnicodeDecodeError:
            path = None  # not UTF-8: no file can have this name
        response = _serve(
            environ,
            self.root,
            path,
            max_age=self.max_age,
            chunk_size=self.chunk_size,
            index=self.index,
            allow_hidden=self.allow_hidden,
            max_ranges=self.max_ranges,
        )
        return response(environ, start_response)

    def __repr__(self) -> str:
        return f"<StaticFiles {self.root!r}>"
