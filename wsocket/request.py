"""A read-only view of a WSGI request: path, query, headers, cookies and body.

Usage::

    from wsocket.request import BadRequest, Request

    def app(environ, start_response):
        request = Request(environ)
        name = request.query.get("name", "world")
        ...

:class:`Request` decodes lazily: nothing is parsed, and the body is not
read, until an attribute asks for it. The body is read at most once, and
never beyond ``max_body_size`` bytes, a security limit.

Strings in a :pep:`3333` environ are "bytes as latin-1": every character
stands for one byte of the request. :class:`Request` turns the path, the
query string and cookies back into bytes and decodes them as UTF-8, which
is what browsers send. Header values are left as the server gave them.

Two exceptions report a bad request; each carries the status of the error
response (``status``), which wsocket's application turns into that
response:

* :class:`BadRequest` (400): a malformed body, JSON, path or header;
* :class:`RequestTooLarge` (413): a body larger than ``max_body_size``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from functools import cached_property
from http.cookies import SimpleCookie
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
    overload,
)

from .exceptions import WebSocketError
from .handshake import is_upgrade_request
from .headers import is_token

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "Request",
    "MultiDict",
    "Headers",
    "UploadedFile",
    "RequestError",
    "BadRequest",
    "RequestTooLarge",
    "DEFAULT_MAX_BODY_SIZE",
]

#: The default limit on the size of a request body, in bytes (1 MiB).
DEFAULT_MAX_BODY_SIZE = 2**20

# The size of each read from wsgi.input.
_READ_SIZE = 65536

_V = TypeVar("_V")
_D = TypeVar("_D")


class RequestError(WebSocketError):
    """The request cannot be served as sent; the client has to change it.

    Attributes:
        status: the status code of the error response.
        reason: its reason phrase.
        message: what is wrong, safe to show to the client.
    """

    status = 400
    reason = "Bad Request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"


class BadRequest(RequestError):
    """The request is malformed: answered ``400 Bad Request``."""


class RequestTooLarge(RequestError):
    """The request body is larger than allowed: answered ``413``.

    Attributes:
        limit: the largest body allowed, in bytes (``max_body_size``).
        length: the ``Content-Length`` of the request, or ``None`` when the
            body had no declared length and was found too large by reading
            one byte past the limit.
    """

    status = 413
    reason = "Content Too Large"

    def __init__(self, limit: int, length: Optional[int] = None) -> None:
        if length is None:
            message = f"the request body is larger than {limit} bytes"
        else:
            message = f"the request body has {length} bytes, more than {limit}"
        super().__init__(message)
        self.limit = limit
        self.length = length


class MultiDict(Mapping[str, _V]):
    """A read-only mapping in which a key can have several values, in order.

    As a mapping it shows the *first* value of each key: ``d[key]``,
    ``d.get(key)``, ``d.items()``. :meth:`getall` returns every value of a
    key and :meth:`allitems` every pair, both in the order received.

    Taking the first value is a choice: with ``?role=user&role=admin``,
    ``d["role"]`` is ``"user"``. When a key must not be repeated, check
    ``len(d.getall(key))``.

    Args:
        items: the ``(key, value)`` pairs, in order.
    """

    def __init__(self, items: Iterable[Tuple[str, _V]] = ()) -> None:
        self._items: List[Tuple[str, _V]] = list(items)
        self._values: Dict[str, List[_V]] = {}
        for key, value in self._items:
            self._values.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> _V:
        """Return the first value of ``key``.

        Raises:
            KeyError: if ``key`` is absent.
        """
        return self._values[key][0]

    @overload
    def get(self, key: str) -> Optional[_V]: ...

    @overload
    def get(self, key: str, default: Union[_V, _D]) -> Union[_V, _D]: ...

    def get(self, key: str, default: Any = None) -> Any:
        """Return the first value of ``key``, or ``default`` if absent."""
        values = self._values.get(key)
        return default if values is None else values[0]

    def getall(self, key: str) -> List[_V]:
        """Return every value of ``key`` in order; empty if absent."""
        return list(self._values.get(key, ()))

    def allitems(self) -> List[Tuple[str, _V]]:
        """Return every ``(key, value)`` pair in order, repeated keys included."""
        return list(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        """Iterate over the keys, each once, in the order of first appearance."""
        return iter(self._values)

    def __len__(self) -> int:
        """Return the number of distinct keys."""
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._items == other._items
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Headers(Mapping[str, str]):
    """The request headers: a read-only, case-insensitive mapping.

    It shows the ``HTTP_*`` variables of the environ and ``CONTENT_TYPE``
    and ``CONTENT_LENGTH`` under their HTTP names: ``headers["user-agent"]``
    is ``environ["HTTP_USER_AGENT"]``. Iteration yields capitalised names
    (``"User-Agent"``). Values are :pep:`3333` strings (one character per
    byte), as the server gave them; a header sent several times arrives
    joined with commas by the server.

    Args:
        environ: the environ of the request.
    """

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._headers: Dict[str, Tuple[str, str]] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:]
                # CGI passes these two without the prefix; a server that
                # also sets the prefixed names must not shadow them.
                if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                    continue
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                if not value:
                    continue  # CGI: empty means absent
                name = key
            else:
                continue
            display = "-".join(word.capitalize() for word in name.split("_"))
            self._headers[display.lower()] = (display, str(value))

    def __getitem__(self, name: str) -> str:
        return self._headers[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._headers

    def __iter__(self) -> Iterator[str]:
        return (display for display, _ in self._headers.values())

    def __len__(self) -> int:
        return len(self._headers)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class UploadedFile:
    """A file sent in a ``multipart/form-data`` body.

    Attributes:
        name: the name of the form field.
        filename: the file name the client gave, possibly empty (a file
            input left empty). It is untrusted: never use it as a path.
        content_type: the media type the client gave, ``text/plain`` when it
            gave none (:rfc:`7578` section 4.4).
        data: the content of the file.
    """

    name: str
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        """The size of :attr:`data`, in bytes."""
        return len(self.data)


# -- Parsing helpers -------------------------------------------------------


def _wsgi_to_text(value: str) -> str:
    """Decode a PEP 3333 string (bytes as latin-1) as UTF-8.

    Raises:
        UnicodeDecodeError: if the bytes are not UTF-8.
    """
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # the server already decoded it to text
    return raw.decode("utf-8")


def _parse_urlencoded(value: str) -> List[Tuple[str, str]]:
    """Parse ``a=1&b=2`` (a query string or a form body) into pairs.

    Blank values are kept (``a=&b`` gives ``("a", "")`` and ``("b", "")``);
    bytes that are not UTF-8 become U+FFFD.
    """
    try:
        text = value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = value
    return urllib.parse.parse_qsl(
        text, keep_blank_values=True, encoding="utf-8", errors="replace"
    )


def _parse_params(value: str) -> Tuple[str, Dict[str, str]]:
    """Split ``type/subtype; name=value; name="quoted"`` into its parts.

    The main value and the parameter names are lower-cased; the first of
    repeated parameters wins. In a quoted string, a backslash escapes only
    ``"`` and ``\\``: browsers send Windows file names unescaped.
    """
    main, _, rest = value.partition(";")
    params: Dict[str, str] = {}
    pos, end = 0, len(rest)
    while pos < end:
        semicolon = rest.find(";", pos)
        equals = rest.find("=", pos)
        if equals < 0 or (0 <= semicolon < equals):
            # A parameter without a value: skip it.
            pos = end if semicolon < 0 else semicolon + 1
            continue
        name = rest[pos:equals].strip(" \t").lower()
        pos = equals + 1
        while pos < end and rest[pos] in " \t":
            pos += 1
        if pos < end and rest[pos] == '"':
            chars: List[str] = []
            pos += 1
            while pos < end:
                char = rest[pos]
                if char == "\\" and pos + 1 < end and rest[pos + 1] in '"\\':
                    chars.append(rest[pos + 1])
                    pos += 2
                elif char == '"':
                    pos += 1
                    break
                else:
                    chars.append(char)
                    pos += 1
            param = "".join(chars)
            semicolon = rest.find(";", pos)
            pos = end if semicolon < 0 else semicolon + 1
        else:
            semicolon = rest.find(";", pos)
            stop = end if semicolon < 0 else semicolon
            param = rest[pos:stop].strip(" \t")
            pos = stop + 1
        if name and name not in params:
            params[name] = param
    return main.strip(" \t").lower(), params


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


# RFC 2046 section 5.1.1: 1 to 70 characters, not ending with a space. Its
# bchars are a subset of printable ASCII, but some clients use others ("$").
_BOUNDARY = re.compile(r"[\x20-\x7e]{0,69}[\x21-\x7e]")


def _delimiter_end(body: bytes, pos: int) -> Optional[Tuple[int, bool]]:
    """Look past ``--boundary`` at ``pos``: ``--`` closes, else ``LWSP CRLF``.

    Returns:
        ``(end of the delimiter line, is_close)``, or ``None`` when the
        boundary is only the prefix of a longer line of data.
    """
    if body.startswith(b"--", pos):
        return pos + 2, True
    while pos < len(body) and body[pos] in b" \t":  # transport padding
        pos += 1
    if body.startswith(b"\r\n", pos):
        return pos + 2, False
    return None


def _find_delimiter(
    body: bytes, delimiter: bytes, pos: int
) -> Optional[Tuple[int, int, bool]]:
    """Find the next ``CRLF--boundary`` line at or after ``pos``.

    Returns:
        ``(start, end, is_close)`` of the delimiter, or ``None``.
    """
    while True:
        start = body.find(delimiter, pos)
        if start < 0:
            return None
        found = _delimiter_end(body, start + len(delimiter))
        if found is not None:
            return (start, *found)
        pos = start + 1


def _parse_multipart(
    body: bytes, boundary: str
) -> Tuple[List[Tuple[str, str]], List[Tuple[str, UploadedFile]]]:
    """Parse a ``multipart/form-data`` body (:rfc:`7578`).

    Strategy: the body is in memory (bounded by ``max_body_size``), so each
    delimiter is found with :meth:`bytes.find`; the bytes between two
    delimiters are one part: header lines, a blank line, the content.

    Raises:
        BadRequest: if the body does not follow the syntax.
    """
    dash_boundary = b"--" + boundary.encode("ascii")
    delimiter = b"\r\n" + dash_boundary
    # The first delimiter may open the body (no preamble, no CRLF before it).
    found: Optional[Tuple[int, int, bool]] = None
    if body.startswith(dash_boundary):
        first = _delimiter_end(body, len(dash_boundary))
        if first is not None:
            found = (0, *first)
    if found is None:
        found = _find_delimiter(body, delimiter, 0)
    if found is None:
        raise BadRequest("the multipart body does not contain its boundary")
    fields: List[Tuple[str, str]] = []
    files: List[Tuple[str, UploadedFile]] = []
    _, pos, closed = found
    while not closed:
        found = _find_delimiter(body, delimiter, pos)
        if found is None:
            raise BadRequest("the multipart body ends before its closing boundary")
        start, end, closed = found
        _parse_part(body[pos:start], fields, files)
        pos = end
    return fields, files


def _parse_part(
    part: bytes,
    fields: List[Tuple[str, str]],
    files: List[Tuple[str, UploadedFile]],
) -> None:
    """Parse one part of a ``multipart/form-data`` body into a field or file."""
    if not part or part.startswith(b"\r\n"):
        head, content = b"", part[2:]
    else:
        blank = part.find(b"\r\n\r\n")
        if blank < 0:
            raise BadRequest("a multipart part has no blank line after its headers")
        head, content = part[:blank], part[blank + 4 :]
    headers: Dict[str, str] = {}
    last = ""
    for line in head.decode("utf-8", "replace").split("\r\n") if head else ():
        if line[:1] in (" ", "\t") and last:
            headers[last] += " " + line.strip(" \t")  # obsolete line folding
            continue
        name, colon, value = line.partition(":")
        name = name.strip(" \t").lower()
        if not colon or not name:
            raise BadRequest("a multipart part has a malformed header line")
        headers.setdefault(name, value.strip(" \t"))
        last = name
    disposition, params = _parse_params(headers.get("content-disposition", ""))
    field = params.get("name")
    if disposition != "form-data" or field is None:
        return  # RFC 7578 section 4.2: every part must be named; skip others
    content_type = headers.get("content-type", "text/plain")
    if "filename" in params:
        files.append(
            (field, UploadedFile(field, params["filename"], content_type, content))
        )
    else:
        charset = _parse_params(content_type)[1].get("charset", "utf-8")
        fields.append((field, _decode(content, charset)))


def _parse_cookies(header: str) -> Dict[str, str]:
    """Parse a ``Cookie`` header (:rfc:`6265` section 5.4), skipping bad pairs.

    The first cookie of a name wins: browsers send the most specific first.
    A quoted value is unquoted as :mod:`http.cookies` quotes it.
    """
    cookies: Dict[str, str] = {}
    unquote = SimpleCookie().value_decode
    for pair in header.split(";"):
        try:
            pair = pair.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            pass  # the server already decoded it to text
        except UnicodeDecodeError:
            continue
        name, equals, value = pair.partition("=")
        name = name.strip(" \t")
        if not equals or not is_token(name) or name in cookies:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = unquote(value)[0]
        elif '"' in value or "\\" in value:
            continue
        cookies[name] = value
    return cookies


class Request:
    """A WSGI request, decoded on demand.

    Args:
        environ: the :pep:`3333` environ of the request.
        max_body_size: the largest request body accepted, in bytes; a
            security limit that also bounds :attr:`json`, :attr:`form` and
            :attr:`files`.

    Attributes:
        environ: the environ, untouched.
        max_body_size: the limit given.
    """

    def __init__(
        self, environ: WSGIEnvironment, *, max_body_size: int = DEFAULT_MAX_BODY_SIZE
    ) -> None:
        if max_body_size < 0:
            raise ValueError("max_body_size must not be negative")
        self.environ = environ
        self.max_body_size = max_body_size
        self._body: Optional[bytes] = None
        self._body_error: Optional[RequestError] = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"

    # -- Request line ------------------------------------------------------

    @property
    def method(self) -> str:
        """The request method in upper case, such as ``"GET"`` or ``"POST"``."""
        return str(self.environ.get("REQUEST_METHOD", "GET")).upper()

    @cached_property
    def path(self) -> str:
        """The path below the app's mount point, ``PATH_INFO`` decoded as UTF-8.

        Percent escapes were decoded by the server; this only turns the
        resulting bytes into text, so ``/caf%C3%A9`` gives ``"/café"``.

        Raises:
            BadRequest: if the path is not valid UTF-8.
        """
        try:
            return _wsgi_to_text(str(self.environ.get("PATH_INFO", "")))
        except UnicodeDecodeError:
            raise BadRequest("the request path is not valid UTF-8") from None

    @cached_property
    def script_name(self) -> str:
        """Where the app is mounted, ``SCRIPT_NAME`` decoded as UTF-8.

        Raises:
            BadRequest: if it is not valid UTF-8.
        """
        try:
            return _wsgi_to_text(str(self.environ.get("SCRIPT_NAME", "")))
        except UnicodeDecodeError:
            raise BadRequest("the script name is not valid UTF-8") from None

    @cached_property
    def url(self) -> str:
        """The full URL of the request, rebuilt as :pep:`3333` describes.

        The host comes from the ``Host`` header when present, which the
        client chooses: do not trust it without a list of allowed hosts.
        """
        environ = self.environ
        scheme = str(environ.get("wsgi.url_scheme", "http"))
        host = environ.get("HTTP_HOST")
        if not host:
            host = str(environ.get("SERVER_NAME", ""))
            port = str(environ.get("SERVER_PORT", ""))
            if port and (scheme, port) not in (("http", "80"), ("https", "443")):
                host = f"{host}:{port}"
        path = _quote(str(environ.get("SCRIPT_NAME", ""))) + _quote(
            str(environ.get("PATH_INFO", ""))
        )
        url = f"{scheme}://{host}{path}"
        query = str(environ.get("QUERY_STRING", ""))
        if query:
            url += "?" + _quote(query, safe=_QUERY_SAFE)
        return url

    @property
    def params(self) -> Dict[str, Any]:
        """The path parameters the router matched (``wsgiorg.routing_args``)."""
        routing_args = self.environ.get("wsgiorg.routing_args", ((), {}))
        try:
            params = routing_args[1]
        except (IndexError, KeyError, TypeError):
            return {}
        return params if isinstance(params, dict) else {}

    @cached_property
    def query(self) -> MultiDict[str]:
        """The parameters of the query string, decoded as UTF-8.

        Blank values are kept (``?flag`` gives ``{"flag": ""}``); bytes that
        are not UTF-8 become U+FFFD. ``query[key]`` is the *first* value
        (see :class:`MultiDict`).
        """
        return MultiDict(_parse_urlencoded(str(self.environ.get("QUERY_STRING", ""))))

    @property
    def args(self) -> MultiDict[str]:
        """Another name for :attr:`query`."""
        return self.query

    # -- Headers -----------------------------------------------------------

    @cached_property
    def headers(self) -> Headers:
        """The request headers (see :class:`Headers`)."""
        return Headers(self.environ)

    @cached_property
    def cookies(self) -> Dict[str, str]:
        """The cookies of the ``Cookie`` header, name to value.

        Pairs that are malformed (no ``=``, a name that is not a token, a
        stray quote, bytes that are not UTF-8) are skipped; the first cookie
        of a name wins.
        """
        return _parse_cookies(str(self.environ.get("HTTP_COOKIE", "")))

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header with its parameters; empty if absent."""
        return str(self.environ.get("CONTENT_TYPE", ""))

    @property
    def mimetype(self) -> str:
        """The media type of the body, lower-case, without parameters."""
        return _parse_params(self.content_type)[0]

    @property
    def content_length(self) -> Optional[int]:
        """The ``Content-Length`` header as an integer; ``None`` if absent.

        Raises:
            BadRequest: if the value is not a non-negative integer.
        """
        value = str(self.environ.get("CONTENT_LENGTH", "")).strip(" \t")
        if not value:
            return None
        if not value.isdigit() or not value.isascii():
            raise BadRequest("the Content-Length header is not a number")
        return int(value) if len(value) < 19 else 10**18

    # -- Body --------------------------------------------------------------

    @property
    def body(self) -> bytes:
        """The request body, read on first access and kept.

        With a ``Content-Length``, a length over the limit is refused before
        anything is read. Without one, the body is read only when the server
        marks the stream as ending with the body (``wsgi.input_terminated``)
        or the request is chunked, and reading stops one byte past the
        limit. Otherwise there is no body.

        Raises:
            RequestTooLarge: if the body is larger than ``max_body_size``.
            BadRequest: if the body ends before its ``Content-Length``.
        """
        if self._body is None:
            if self._body_error is not None:
                raise self._body_error
            try:
                self._body = self._read_body()
            except RequestError as exc:
                self._body_error = exc
                raise
        return self._body

    def _read_body(self) -> bytes:
        environ = self.environ
        stream = environ.get("wsgi.input")
        length = self.content_length
        limit = self.max_body_size
        if length is not None:
            if length > limit:
                raise RequestTooLarge(limit, length)
            if stream is None or length == 0:
                return b""
            data = _read(stream, length)
            if len(data) < length:
                raise BadRequest("the request body is shorter than its Content-Length")
            return data
        terminated = (
            environ.get("wsgi.input_terminated")
            or "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        )
        if stream is None or not terminated:
            # PEP 3333: without Content-Length, reading could block forever.
            return b""
        data = _read(stream, limit + 1)
        if len(data) > limit:
            raise RequestTooLarge(limit)
        return data

    @property
    def text(self) -> str:
        """The body decoded with the ``charset`` of ``Content-Type`` (UTF-8).

        Raises:
            BadRequest: if the charset is unknown or the body does not
                decode with it.
            RequestTooLarge: see :attr:`body`.
        """
        charset = _parse_params(self.content_type)[1].get("charset", "utf-8")
        try:
            return self.body.decode(charset)
        except LookupError:
            raise BadRequest(f"unknown charset {charset!r}") from None
        except UnicodeDecodeError:
            raise BadRequest(f"the request body is not valid {charset}") from None

    @property
    def json(self) -> Any:
        """The body parsed as JSON (UTF-8, or UTF-16/32 with a BOM).

        The ``Content-Type`` is not checked.

        Raises:
            BadRequest: if the body is empty or not valid JSON; the message
                says where the error is.
            RequestTooLarge: see :attr:`body`.
        """
        body = self.body
        if not body.strip():
            raise BadRequest("the request body is empty, JSON was expected")
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise BadRequest(
                f"invalid JSON in the request body: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno})"
            ) from None
        except UnicodeDecodeError:
            raise BadRequest("the JSON request body is not valid UTF-8") from None
        except RecursionError:
            raise BadRequest("the JSON request body is nested too deeply") from None

    @cached_property
    def _form_data(self) -> Tuple[MultiDict[str], MultiDict[UploadedFile]]:
        mimetype, params = _parse_params(self.content_type)
        if mimetype == "application/x-www-form-urlencoded":
            fields = _parse_urlencoded(self.body.decode("latin-1"))
            return MultiDict(fields), MultiDict()
        if mimetype == "multipart/form-data":
            boundary = params.get("boundary", "")
            if not _BOUNDARY.fullmatch(boundary):
                raise BadRequest("multipart/form-data without a valid boundary")
            fields, files = _parse_multipart(self.body, boundary)
            return MultiDict(fields), MultiDict(files)
        return MultiDict(), MultiDict()

    @property
    def form(self) -> MultiDict[str]:
        """The fields of a form body, decoded as UTF-8.

        For ``application/x-www-form-urlencoded`` and ``multipart/form-data``
        bodies; empty for any other ``Content-Type``. In a multipart body,
        the parts that carry a file name are in :attr:`files` instead.

        Raises:
            BadRequest: if a multipart body is malformed.
            RequestTooLarge: see :attr:`body`.
        """
        return self._form_data[0]

    @property
    def files(self) -> MultiDict[UploadedFile]:
        """The files of a ``multipart/form-data`` body, by field name.

        A part with a ``filename`` parameter is a file, even when the name is
        empty (what a browser sends for a file input left empty).

        Raises:
            BadRequest: if a multipart body is malformed.
            RequestTooLarge: see :attr:`body`.
        """
        return self._form_data[1]

    # -- Connection --------------------------------------------------------

    @property
    def websocket(self) -> Any:
        """The open WebSocket (``environ["wsgi.websocket"]``), or ``None``."""
        return self.environ.get("wsgi.websocket")

    @property
    def is_websocket(self) -> bool:
        """Tell whether this is a WebSocket request.

        True when a WebSocket is open for it, or when it asks for an
        upgrade to WebSocket (the handshake not being done yet).
        """
        return self.websocket is not None or is_upgrade_request(self.environ)

    @property
    def remote_addr(self) -> Optional[str]:
        """The address of the client (``REMOTE_ADDR``), or ``None``.

        Behind a reverse proxy it is the proxy's address; a proxy's
        ``X-Forwarded-For`` header is not read, as any client can send it.
        """
        value = self.environ.get("REMOTE_ADDR")
        return str(value) if value else None


# RFC 3986: the characters allowed unescaped in a path (pchar and "/"), and
# in a query, where "%" is kept as the clients already escaped.
_PATH_SAFE = "/:@!$&'()*+,;=~"
_QUERY_SAFE = "/?:@!$&'()*+,;=~%"


def _quote(value: str, safe: str = _PATH_SAFE) -> str:
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        raw = value.encode("utf-8")
    return urllib.parse.quote(raw, safe=safe)


def _read(stream: Any, limit: int) -> bytes:
    """Read from ``stream`` until EOF or ``limit`` bytes, never beyond."""
    data = bytearray()
    while len(data) < limit:
        chunk = stream.read(min(_READ_SIZE, limit - len(data)))
        if not chunk:
            break
        data += chunk
    del data[limit:]  # a stream that returns more than asked
    return bytes(data)
