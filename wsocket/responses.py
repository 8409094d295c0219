"""HTTP responses: :class:`Response`, JSON, :class:`HTTPError`, and :func:`to_wsgi`.

:func:`to_wsgi` is the one place where whatever a handler produced becomes
what PEP 3333 asks for: a status line, a list of ``(name, value)`` string
pairs, and an iterable of :class:`bytes`. Every check of what goes on the
wire happens there, before ``start_response`` is called:

- a status may be an :class:`int`, an :class:`http.HTTPStatus`, ``"404"`` or
  ``"404 Not Found"``; the reason phrase is filled in when missing;
- headers may be a list of pairs, a dict, a multi-dict, or any iterable of
  pairs; values go through :class:`str`; a name that is not an HTTP token or a
  value holding CR, LF, NUL or another control character is refused;
- a body may be ``str`` (sent as UTF-8), ``bytes``-like, a list or tuple of
  those, ``None``, an iterator (streamed as produced), a file, a
  :class:`Response`, or a ``dict``, sent as JSON (as Bottle and Flask do; a
  list stays a body of chunks: send a JSON array with
  :func:`json_response`).

``Content-Length`` is set whenever the body's size is known, and the body is
dropped for ``HEAD`` requests and for 1xx, 204 and 304 responses.
"""

from __future__ import annotations

import datetime
import email.utils
import html
import http
import io
import json
import logging
import os
import re
import stat
import time
import urllib.parse
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    NoReturn,
    Optional,
    Tuple,
    Union,
)

__all__ = [
    "Response",
    "HTTPError",
    "abort",
    "json_response",
    "redirect",
    "to_wsgi",
    "status_line",
    "header_list",
    "error_page",
    "StatusLike",
]

logger = logging.getLogger("wsocket.app")

#: What a status may be given as, for example ``200``, ``HTTPStatus.OK``,
#: ``"200"`` or ``"200 OK"``.
StatusLike = Union[int, str, http.HTTPStatus]

#: How many bytes a file body is read in at a time.
FILE_BLOCK_SIZE = 64 * 1024

DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"

_PHRASES: Dict[int, str] = {status.value: status.phrase for status in http.HTTPStatus}
_CLASS_PHRASES = {
    1: "Informational",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
}
_LINES: Dict[int, str] = {}

# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 5.5: a field value is visible characters, SP and HTAB;
# anything else below 0x20, DEL, or outside Latin-1 cannot be sent.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")
_BAD_PHRASE = _BAD_VALUE

_JSON_HINT = "to send JSON, return wsocket.json_response(data) (or Response.json(data))"


def _line_for(code: int) -> str:
    line = _LINES.get(code)
    if line is None:
        if not 100 <= code <= 599:
            raise ValueError(f"HTTP status {code} is out of range (100 to 599)")
        phrase = _PHRASES.get(code) or _CLASS_PHRASES[code // 100]
        line = _LINES[code] = f"{code} {phrase}"
    return line


def status_line(status: StatusLike) -> str:
    """Return the PEP 3333 status line for ``status``, e.g. ``"404 Not Found"``.

    Args:
        status: an :class:`int` or :class:`http.HTTPStatus`; or a string with
            three digits, optionally followed by a space and a reason phrase,
            which is kept. A missing phrase is the standard one, or for a
            code without one the name of its class (``"299 Success"``,
            ``"499 Client Error"``).

    Raises:
        ValueError: for a code outside 100-599, a malformed string, a phrase
            with control characters, or another type.
    """
    if isinstance(status, int) and not isinstance(status, bool):
        return _line_for(int(status))
    if isinstance(status, str):
        code_text, _, phrase = status.partition(" ")
        if len(code_text) != 3 or not code_text.isascii() or not code_text.isdigit():
            raise ValueError(
                f"invalid HTTP status {status!r}: use an int, an HTTPStatus, "
                "'404' or '404 Not Found'"
            )
        code = int(code_text)
        line = _line_for(code)
        if not phrase.strip():
            return line
        if _BAD_PHRASE.search(phrase):
            raise ValueError(
                f"invalid reason phrase in HTTP status {status!r}: control "
                "characters or characters outside Latin-1"
            )
        return f"{code} {phrase}"
    raise ValueError(
        f"invalid HTTP status {status!r} ({type(status).__name__}): use an int, "
        "an HTTPStatus, '404' or '404 Not Found'"
    )


def _pairs(headers: Any) -> Iterator[Tuple[Any, Any]]:
    if hasattr(headers, "getall") and hasattr(headers, "keys"):
        # A multi-dict whose items() may show one value per name.
        for name in dict.fromkeys(headers.keys()):
            for value in headers.getall(name):
                yield name, value
        return
    if isinstance(headers, Mapping) or hasattr(headers, "items"):
        for name, value in headers.items():
            if isinstance(value, (list, tuple)):
                for one in value:
                    yield name, one
            else:
                yield name, value
        return
    for item in headers:
        if isinstance(item, (str, bytes)) or not hasattr(item, "__len__"):
            raise ValueError(f"a header must be a (name, value) pair, not {item!r}")
        if len(item) != 2:
            raise ValueError(f"a header must be a (name, value) pair, not {item!r}")
        yield item[0], item[1]


def header_list(headers: Any) -> List[Tuple[str, str]]:
    """Return ``headers`` as a PEP 3333 list of ``(name, value)`` strings.

    Args:
        headers: ``None``; a list or other iterable of ``(name, value)``
            pairs; a mapping (a value that is a list or tuple gives one
            header per item); or a multi-dict (anything with ``getall`` and
            ``keys``, or ``items`` that yields repeated names). Values that
            are not strings go through :class:`str` (``bytes`` are decoded as
            Latin-1).

    Raises:
        ValueError: for something that is not a pair, a name that is not an
            HTTP token, or a value with CR, LF, NUL, another control
            character, or a character outside Latin-1. Such a header would
            corrupt the response, or split it in two.
    """
    if headers is None:
        return []
    if isinstance(headers, (str, bytes)):
        raise ValueError(
            f"headers must be a list of (name, value) pairs or a dict, not {headers!r}"
        )
    result: List[Tuple[str, str]] = []
    for name, value in _pairs(headers):
        if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
            raise ValueError(
                f"invalid header name {name!r}: a header name is an HTTP token "
                "(letters, digits and !#$%&'*+-.^_`|~)"
            )
        if not isinstance(value, str):
            value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if _BAD_VALUE.search(value):
            raise ValueError(
                f"invalid value for header {name!r}: {value!r} holds CR, LF, NUL, "
                "another control character or a character outside Latin-1"
            )
        result.append((name, value))
    return result


def _find(headers: List[Tuple[str, str]], lname: str) -> Optional[str]:
    for name, value in headers:
        if name.lower() == lname:
            return value
    return None


def error_page(status: StatusLike, message: str = "", *, detail: str = "") -> str:
    """Return a small HTML page for an error status.

    Args:
        status: the status shown as the title.
        message: a sentence shown under the title (HTML-escaped).
        detail: preformatted text such as a traceback (HTML-escaped).
    """
    line = html.escape(status_line(status))
    parts = [
        '<!doctype html>\n<html><head><meta charset="utf-8">',
        f"<title>{line}</title></head>\n<body>\n<h1>{line}</h1>\n",
    ]
    if message:
        parts.append(f"<p>{html.escape(message)}</p>\n")
    if detail:
        parts.append(f"<pre>{html.escape(detail)}</pre>\n")
    parts.append("</body></html>\n")
    return "".join(parts)


class Response:
    """An HTTP response: a body, a status and headers.

    Return one from a handler to choose the status or headers. A response is
    also a WSGI application.

    Example::

        return Response("<h1>Created</h1>", 201, {"Location": "/items/7"})

    Args:
        body: ``str``, ``bytes``-like, a list of those, ``None``, an
            iterator, or a file (see :func:`to_wsgi`).
        status: the status (see :func:`status_line`).
        headers: the headers (see :func:`header_list`).
        content_type: sets ``Content-Type``; without one, a response whose
            headers have none is sent as ``text/html; charset=utf-8``.

    Raises:
        ValueError: for an invalid status or header (see :func:`status_line`
            and :func:`header_list`).
    """

    def __init__(
        self,
        body: Any = None,
        status: StatusLike = 200,
        headers: Any = None,
        *,
        content_type: Optional[str] = None,
    ) -> None:
        self.body = body
        self._status = status_line(status)
        #: The headers, a list of ``(name, value)`` pairs; modify it freely
        #: (or through :meth:`set_header`), it is checked again when sent.
        self.headers: List[Tuple[str, str]] = header_list(headers)
        if content_type is not None:
            self.set_header("Content-Type", content_type)

    @property
    def status(self) -> str:
        """The status line, e.g. ``"200 OK"``; assign any :data:`StatusLike`."""
        return self._status

    @status.setter
    def status(self, value: StatusLike) -> None:
        self._status = status_line(value)

    @property
    def status_code(self) -> int:
        """The status code, e.g. ``200``."""
        return int(self._status[:3])

    def get_header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """Return the first value of header ``name`` (any case), or ``default``."""
        value = _find(self.headers, name.lower())
        return default if value is None else value

    def set_header(self, name: str, value: Any) -> None:
        """Set header ``name``, replacing any value it had.

        Raises:
            ValueError: for an invalid name or value.
        """
        (pair,) = header_list([(name, value)])
        lname = name.lower()
        self.headers = [h for h in self.headers if h[0].lower() != lname]
        self.headers.append(pair)

    def add_header(self, name: str, value: Any) -> None:
        """Add a header, keeping those of the same name (``Set-Cookie``...).

        Raises:
            ValueError: for an invalid name or value.
        """
        self.headers.extend(header_list([(name, value)]))

    def set_cookie(
        self,
        name: str,
        value: str = "",
        *,
        max_age: Union[None, int, datetime.timedelta] = None,
        expires: Union[None, int, float, datetime.datetime] = None,
        path: Optional[str] = "/",
        domain: Optional[str] = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Optional[str] = None,
    ) -> None:
        """Add a ``Set-Cookie`` header (RFC 6265).

        Args:
            name: the cookie's name, an HTTP token.
            value: its value: printable ASCII without spaces, quotes, commas,
                semicolons or backslashes (encode anything else first, e.g.
                with :func:`urllib.parse.quote`).
            max_age: seconds (or a :class:`~datetime.timedelta`) the cookie
                lives; ``0`` deletes it. ``Expires`` is set to match, for
                old clients.
            expires: when the cookie expires: a
                :class:`~datetime.datetime` (naive means UTC) or a Unix
                timestamp.
            path: the path the cookie is sent for; ``None`` omits it.
            domain: the domain the cookie is sent to; ``None`` for this host
                only.
            secure: send it over HTTPS only.
            httponly: hide it from JavaScript.
            samesite: ``"Strict"``, ``"Lax"`` or ``"None"`` (which needs
                ``secure=True``).

        Raises:
            ValueError: for a name, value or attribute that cannot be sent.
        """
        self.add_header(
            "Set-Cookie",
            _cookie(
                name, value, max_age, expires, path, domain, secure, httponly, samesite
            ),
        )

    def delete_cookie(
        self,
        name: str,
        *,
        path: Optional[str] = "/",
        domain: Optional[str] = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Optional[str] = None,
    ) -> None:
        """Tell the client to drop cookie ``name``.

        ``path`` and ``domain`` must be those the cookie was set with.
        """
        self.set_cookie(
            name,
            "",
            max_age=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    @classmethod
    def json(
        cls,
        data: Any,
        status: StatusLike = 200,
        headers: Any = None,
        **dumps_options: Any,
    ) -> Response:
        """Build a JSON response: ``data`` serialised with :func:`json.dumps`.

        The body is compact UTF-8 (``ensure_ascii=False``); ``dumps_options``
        (``indent=2``, ``default=str``, ``sort_keys=True``...) are passed to
        :func:`json.dumps` and override those defaults.

        Raises:
            TypeError: ``data`` holds something JSON cannot represent.
        """
        dumps_options.setdefault("ensure_ascii", False)
        if "indent" not in dumps_options:
            dumps_options.setdefault("separators", (",", ":"))
        body = json.dumps(data, **dumps_options).encode("utf-8")
        return cls(body, status, headers, content_type="application/json")

    def __call__(
        self, environ: Dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Send this response as a WSGI application."""
        return to_wsgi(self, environ, start_response)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._status!r}>"


def json_response(
    data: Any, status: StatusLike = 200, headers: Any = None, **dumps_options: Any
) -> Response:
    """Return a JSON :class:`Response`; the same as :meth:`Response.json`.

    Example::

        @app.route("/api/users/<int:id>")
        def user(id):
            return json_response({"id": id, "name": "Ada"})

    Raises:
        TypeError: ``data`` holds something JSON cannot represent.
    """
    return Response.json(data, status, headers, **dumps_options)


_DESCRIPTIONS = {
    400: "The request could not be understood.",
    401: "This resource needs authentication.",
    403: "Access to this resource is forbidden.",
    404: "The requested URL was not found on this server.",
    405: "The method is not allowed for the requested URL.",
    426: "This URL only accepts WebSocket connections.",
    500: "The server met an unexpected error and could not answer.",
}


class HTTPError(Response, Exception):
    """An error response, which a handler may raise or return.

    It is a :class:`Response` (and so a WSGI application) and an exception.
    Applications send it through the error handler registered for its
    status, if any.

    Example::

        if not user:
            raise HTTPError(404, "no such user")

    Args:
        status: the status, 500 by default.
        body: the body; ``None`` for a small HTML page naming the status.
        headers: extra headers, e.g. ``{"Allow": "GET"}`` for a 405.
        exception: the exception behind a 500, if any.
        traceback: the formatted traceback of ``exception``, if any.

    Attributes:
        exception: the exception behind a 500, if any.
        traceback: its formatted traceback, if any.
    """

    def __init__(
        self,
        status: StatusLike = 500,
        body: Any = None,
        headers: Any = None,
        *,
        exception: Optional[BaseException] = None,
        traceback: Optional[str] = None,
    ) -> None:
        Response.__init__(self, body, status, headers)
        Exception.__init__(self, self.status)
        if body is None:
            self.body = error_page(self.status, _DESCRIPTIONS.get(self.status_code, ""))
        self.exception = exception
        self.traceback = traceback

    def __str__(self) -> str:
        return self.status


_REDIRECTS = (301, 302, 303, 307, 308)
# Characters a URL may hold as they are (RFC 3986); others are %-encoded.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def redirect(url: str, code: int = 302) -> Response:
    """Return a response that sends the client to ``url``.

    Example::

        @app.route("/old")
        def old():
            return redirect(app.url_for("new"), 301)

    Args:
        url: where to go, absolute or relative; characters a URL cannot
            hold (spaces, non-ASCII) are percent-encoded.
        code: 301 or 308 (moved for good), 302, 303 or 307 (for now); 307
            and 308 keep the method and body.

    Raises:
        ValueError: for another code, or a URL holding CR, LF or NUL.
    """
    if code not in _REDIRECTS:
        raise ValueError(
            f"redirect code must be one of {', '.join(map(str, _REDIRECTS))}, "
            f"not {code!r}"
        )
    if any(char in url for char in "\r\n\0"):
        raise ValueError(f"redirect URL {url!r} holds CR, LF or NUL")
    location = urllib.parse.quote(url, safe=_URL_SAFE)
    shown = html.escape(location)
    body = f'<!DOCTYPE html>\n<p>Redirecting to <a href="{shown}">{shown}</a>.</p>\n'
    return Response(body, code, [("Location", location)])


_COOKIE_VALUE = re.compile(r"[!#-+\--:<-\[\]-~]*")
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def _cookie(
    name: str,
    value: str,
    max_age: Union[None, int, datetime.timedelta],
    expires: Union[None, int, float, datetime.datetime],
    path: Optional[str],
    domain: Optional[str],
    secure: bool,
    httponly: bool,
    samesite: Optional[str],
) -> str:
    """Build a ``Set-Cookie`` value, refusing what RFC 6265 does not allow."""
    if not name or not _TOKEN.fullmatch(name):
        raise ValueError(f"cookie name {name!r} must be an HTTP token")
    if _COOKIE_VALUE.fullmatch(value) is None:
        raise ValueError(
            f"cookie value {value!r} holds a space, quote, comma, semicolon, "
            "backslash or non-ASCII character: encode it first, e.g. with "
            "urllib.parse.quote()"
        )
    parts = [f"{name}={value}"]
    if max_age is not None:
        seconds = (
            int(max_age.total_seconds())
            if isinstance(max_age, datetime.timedelta)
            else int(max_age)
        )
        parts.append(f"Max-Age={seconds}")
        if expires is None:
            expires = 0 if seconds <= 0 else time.time() + seconds
    if expires is not None:
        if isinstance(expires, datetime.datetime):
            when = expires
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.timezone.utc)
        else:
            when = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
        parts.append("Expires=" + email.utils.format_datetime(when, usegmt=True))
    for label, text in (("Path", path), ("Domain", domain)):
        if text is not None:
            if any(char in text for char in ";\r\n\0") or not text.isprintable():
                raise ValueError(f"cookie {label} {text!r} holds a forbidden character")
            parts.append(f"{label}={text}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        mode = _SAMESITE.get(str(samesite).lower())
        if mode is None:
            raise ValueError(
                f"samesite must be 'Strict', 'Lax' or 'None', not {samesite!r}"
            )
        if mode == "None" and not secure:
            raise ValueError("samesite='None' needs secure=True: browsers refuse it")
        parts.append(f"SameSite={mode}")
    return "; ".join(parts)


def abort(status: StatusLike, body: Any = None, headers: Any = None) -> NoReturn:
    """Stop the handler and answer with an error.

    Example::

        abort(403)

    Raises:
        HTTPError: always, built from the arguments.
    """
    raise HTTPError(status, body, headers)


# -- bodies ---------------------------------------------------------------------


def _chunk(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, (dict, list, tuple)):
        raise TypeError(
            f"a response body chunk is a {type(item).__name__}: {_JSON_HINT}"
        )
    raise TypeError(
        f"a response body chunk must be str or bytes, not {type(item).__name__}"
    )


def _close(body: Any) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


class _Stream:
    """Body of an iterator: the peeked first chunk, then the rest as produced.

    A failure after the headers went out is logged and re-raised, so that
    the server drops the connection: the client then sees a truncated
    response, never one that looks complete.
    """

    __slots__ = ("_first", "_iterator", "_source", "_path", "_closed")

    def __init__(
        self, first: Optional[bytes], iterator: Iterator[Any], source: Any, path: str
    ) -> None:
        self._first = first
        self._iterator = iterator
        self._source = source
        self._path = path
        self._closed = False

    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> bytes:
        first = self._first
        if first is not None:
            self._first = None
            return first
        try:
            return _chunk(next(self._iterator))
        except StopIteration:
            raise
        except Exception:
            logger.exception(
                "error while streaming the response to %s; the response is cut short",
                self._path,
            )
            raise

    def close(self) -> None:
        """Close the iterator the handler returned (once)."""
        if not self._closed:
            self._closed = True
            _close(self._source)


class _FileStream:
    """Body of a file when the server offers no ``wsgi.file_wrapper``."""

    __slots__ = ("_file", "_size")

    def __init__(self, file: Any, size: int) -> None:
        self._file = file
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        read = self._file.read
        while True:
            data = read(self._size)
            if not data:
                return
            yield _chunk(data)

    def close(self) -> None:
        """Close the file."""
        _close(self._file)


def _file_size(file: Any) -> Optional[int]:
    """Bytes left to read in a binary file, or ``None`` when unknown."""
    if isinstance(file, io.TextIOBase):
        return None
    try:
        info = os.fstat(file.fileno())
        if stat.S_ISREG(info.st_mode):
            return max(0, info.st_size - int(file.tell()))
    except (AttributeError, OSError, ValueError):
        pass
    try:
        if file.seekable():
            position = file.tell()
            end = file.seek(0, io.SEEK_END)
            file.seek(position)
            return max(0, int(end) - int(position))
    except (AttributeError, OSError, ValueError):
        pass
    return None


def _body(body: Any, environ: Dict[str, Any]) -> Tuple[Iterable[bytes], Optional[int]]:
    """Turn a handler's body into an iterable of bytes and its length if known.

    An iterator is advanced once here, so that an early failure (or a chunk
    of the wrong type) is reported before any header is sent.
    """
    if body is None:
        return [], 0
    if isinstance(body, _Stream):
        return body, None
    if isinstance(body, bytes):
        return [body], len(body)
    if isinstance(body, str):
        data = body.encode("utf-8")
        return [data], len(data)
    if isinstance(body, (bytearray, memoryview)):
        data = bytes(body)
        return [data], len(data)
    if isinstance(body, (list, tuple)):
        data = b"".join([_chunk(item) for item in body])
        return [data], len(data)
    if isinstance(body, Mapping):
        raise TypeError(f"a handler returned a {type(body).__name__}: {_JSON_HINT}")
    if isinstance(body, Response):
        raise TypeError("a Response cannot be the body of another Response")
    if hasattr(body, "read"):
        size = _file_size(body)
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None and not isinstance(body, io.TextIOBase):
            return wrapper(body, FILE_BLOCK_SIZE), size
        return _FileStream(body, FILE_BLOCK_SIZE), size
    try:
        iterator = iter(body)
    except TypeError:
        raise TypeError(
            f"cannot send a {type(body).__name__} as a response body: return "
            f"str, bytes, an iterable of them, a file or a Response; {_JSON_HINT}"
        ) from None
    try:
        first = _chunk(next(iterator))
    except StopIteration:
        _close(body)
        return [], 0
    except BaseException:
        _close(body)
        raise
    return _Stream(first, iterator, body, str(environ.get("PATH_INFO", ""))), None


def _no_body(code: int) -> bool:
    # RFC 9110 sections 6.4.1 and 15: 1xx, 204 and 304 have no content.
    return code < 200 or code == 204 or code == 304


def to_wsgi(
    result: Any,
    environ: Dict[str, Any],
    start_response: Callable[..., Any],
    status: StatusLike = 200,
    headers: Any = None,
) -> Iterable[bytes]:
    """Send ``result`` through ``start_response``; return the WSGI body.

    Args:
        result: a :class:`Response` (its status and headers win), or a body:
            ``None``, ``str`` (UTF-8), ``bytes``, ``bytearray``,
            ``memoryview``, a list or tuple of those, an iterator or
            generator of those (streamed chunk by chunk), or a file or
            file-like object (through ``environ["wsgi.file_wrapper"]`` when
            the server has one), or a ``dict``, sent as JSON.
        environ: the request's environ.
        start_response: the server's ``start_response``.
        status: the status when ``result`` is not a :class:`Response`.
        headers: the headers when ``result`` is not a :class:`Response`.

    Returns:
        The iterable of bytes to hand to the server. Its ``close()`` closes
        what the handler returned.

    Raises:
        TypeError: for a body that cannot be sent, such as an object that
            is not text, bytes or an iterable of them.
        ValueError: for an invalid status or header.
    """
    cls = type(result)
    if (cls is str or cls is bytes) and headers is None and status == 200:
        # The most common answer, a page or a message: what the general
        # path below would send, without its checks.
        data = result.encode("utf-8") if cls is str else result
        size = str(len(data))
        headers = [("Content-Type", DEFAULT_CONTENT_TYPE), ("Content-Length", size)]
        start_response("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [data]
    if isinstance(result, Response):
        status, headers, result = result.status, result.headers, result.body
    if isinstance(result, dict):
        result = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        headers = header_list(headers)
        if _find(headers, "content-type") is None:
            headers.append(("Content-Type", "application/json"))
    body, length = _body(result, environ)
    try:
        line = status_line(status)
        header_pairs = header_list(headers)
        code = int(line[:3])
        no_body = _no_body(code)
        if not no_body:
            has_type = has_length = False
            for name, _ in header_pairs:
                lname = name.lower()
                if lname == "content-type":
                    has_type = True
                elif lname == "content-length":
                    has_length = True
            if not has_type:
                header_pairs.append(("Content-Type", DEFAULT_CONTENT_TYPE))
            if not has_length and length is not None:
                header_pairs.append(("Content-Length", str(length)))
    except BaseException:
        _close(body)
        raise
    if no_body or environ.get("REQUEST_METHOD") == "HEAD":
        _close(body)
        body = []
    start_response(line, header_pairs)
    return body
