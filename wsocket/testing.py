"""Test WSGI applications in-process, HTTP and WebSocket, without a server.

Usage::

    from wsocket.testing import TestClient

    client = TestClient(app)

    response = client.get("/hello", query={"name": "Ada"})
    assert response.status_code == 200
    assert response.text == "Hello, Ada"

    with client.websocket_connect("/echo") as ws:
        ws.send("ping")
        assert ws.receive() == "ping"

``app`` is any WSGI application: a plain function, one wrapped in
:class:`~wsocket.middleware.WebSocketMiddleware`, a wsocket application,
Flask, Django...

Theory of operation:

HTTP
    :meth:`TestClient.request` builds the PEP 3333 environ a server would
    build for the request, calls the app in the calling thread and plays the
    server's part of the WSGI contract strictly: ``start_response`` before
    the first non-empty body chunk, a well-formed status line and header
    list, ``exc_info`` honoured, the ``close()`` of the body iterable always
    called. A breach raises :class:`WSGIViolation`.

WebSocket
    :meth:`TestClient.websocket_connect` builds the upgrade request with a
    real :class:`~wsocket.handshake.ClientHandshake`, so the app validates
    genuine headers, and turns it into an environ that offers
    ``environ["wsocket.take_over"]``, the hook of wsocket's own server. The
    app runs in a background thread, on one end of a
    :func:`socket.socketpair`; the test reads the handshake answer on the
    other end. A 101 gives an open :class:`TestWebSocket`; anything else
    raises :class:`~wsocket.exceptions.HandshakeError`, as a real client
    would. When the session ends, the app thread is joined and whatever it
    raised is raised in the test.

The WebSocket side uses real threads and blocking sockets; it is not meant
for a process that gevent has monkey-patched.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import io
import json as json_module
import logging
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Optional,
    Tuple,
    Union,
)

from .client import Compression, deflate_options
from .connection import WebSocket
from .exceptions import HandshakeError
from .handshake import ClientHandshake, ClientHandshakeResult
from .headers import is_token
from .http11 import RequestReader, check_field
from .protocol import CLIENT, Protocol

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "TestClient",
    "TestResponse",
    "TestWebSocket",
    "ResponseHeaders",
    "WSGIViolation",
]

#: A WSGI application.
WSGIApp = Callable[[Any, Any], Iterable[bytes]]

#: What ``headers=`` accepts: a mapping or a sequence of ``(name, value)``.
HeadersArg = Union[Mapping[str, str], Sequence[Tuple[str, str]], None]

#: What ``query=`` accepts; a mapping's list values repeat the name.
QueryArg = Union[Mapping[str, Any], Sequence[Tuple[str, Any]], None]

#: What ``data=`` accepts: the raw body, text (sent as UTF-8), or form fields.
DataArg = Union[bytes, str, Mapping[str, Any], Sequence[Tuple[str, Any]], None]

# PEP 3333: "a status code and reason phrase, separated by a single space,
# with no surrounding whitespace or other characters".
_STATUS = re.compile(r"[1-9][0-9]{2} [^\x00-\x1f\x7f]*[^\x00-\x20\x7f]")
# Control characters other than HTAB cannot appear in a header value
# (RFC 7230 section 3.2); CR and LF would split the header.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Characters left as they are when a path or a query given as text is
# percent-encoded: RFC 3986 reserved and unreserved characters, and "%" so
# that an already encoded string stays as it is.
_PATH_SAFE = "/!$&'()*+,;=:@~-._%"
_QUERY_SAFE = _PATH_SAFE + "?"

_DEFAULT_PORTS = {"http": 80, "https": 443}

_ERROR_STATUS = "500 Internal Server Error"
_ERROR_BODY = b"Internal Server Error\n"
_ERROR_HEADERS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Length", str(len(_ERROR_BODY))),
]

#: The loggers whose errors, when logged with a traceback while the client
#: runs the app, count as errors of the app (see :class:`_ErrorCapture`).
_LOGGER = "wsocket"


class WSGIViolation(AssertionError):
    """The application broke the WSGI contract (PEP 3333).

    For example: a body chunk that is not ``bytes``, body data before
    ``start_response()``, ``start_response()`` called twice without
    ``exc_info``, a malformed status line or header list.
    """


# --------------------------------------------------------------------------
# Response headers
# --------------------------------------------------------------------------


class ResponseHeaders:
    """The headers of a response: case-insensitive, in order, repeatable.

    Iterating yields ``(name, value)`` pairs as the app gave them.

    Args:
        items: the ``(name, value)`` pairs.
    """

    def __init__(self, items: Iterable[Tuple[str, str]] = ()) -> None:
        self._items: List[Tuple[str, str]] = list(items)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """Return the first value of header ``name``, or ``default``."""
        wanted = name.lower()
        for key, value in self._items:
            if key.lower() == wanted:
                return value
        return default

    def get_all(self, name: str) -> List[str]:
        """Return every value of header ``name``, in order (``Set-Cookie``...)."""
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def items(self) -> List[Tuple[str, str]]:
        """Return the ``(name, value)`` pairs, in order."""
        return list(self._items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._items!r})"


# --------------------------------------------------------------------------
# One call of a WSGI application
# --------------------------------------------------------------------------


def _check_status(status: object) -> str:
    if not isinstance(status, str):
        raise WSGIViolation(f"the status must be a str, not {type(status).__name__}")
    if _STATUS.fullmatch(status) is None:
        raise WSGIViolation(
            f"malformed status {status!r}: expected a three-digit code, one "
            "space and a reason phrase, such as '200 OK'"
        )
    return status


def _check_headers(headers: object) -> List[Tuple[str, str]]:
    # PEP 3333: "response_headers argument is a list of (header_name,
    # header_value) tuples. It must be a Python list".
    if type(headers) is not list:
        raise WSGIViolation(
            f"the headers must be a list of (name, value) tuples, not "
            f"{type(headers).__name__}"
        )
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise WSGIViolation(f"header {item!r} is not a (name, value) tuple")
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise WSGIViolation(f"header {item!r}: name and value must be str")
        if not is_token(name):
            raise WSGIViolation(f"invalid header name {name!r}")
        if name.lower() == "status":
            raise WSGIViolation("a Status header is not allowed; use the status")
        if _BAD_VALUE.search(value) or not _is_latin1(value):
            raise WSGIViolation(f"invalid characters in the value of header {name!r}")
    return list(headers)


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class _Exchange:
    """The server's side of one WSGI call: ``start_response``, body, ``close``.

    Call :meth:`begin`, iterate over :meth:`chunks`, and always call
    :meth:`close`, in a ``finally`` clause.
    """

    def __init__(self, app: WSGIApp, environ: Dict[str, Any]) -> None:
        self.app = app
        self.environ = environ
        self.status: Optional[str] = None
        self.headers: List[Tuple[str, str]] = []
        #: True once the first non-empty chunk came: a server would have
        #: sent the status and headers by then.
        self.headers_sent = False
        self._written: List[bytes] = []
        self._result: Optional[Iterable[bytes]] = None
        self._iterator: Optional[Iterator[bytes]] = None
        self._closed = False

    def start_response(
        self,
        status: str,
        headers: List[Tuple[str, str]],
        exc_info: Optional[Tuple[type, BaseException, Optional[TracebackType]]] = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                # PEP 3333: once the headers are sent, start_response "must
                # raise an error, and should re-raise using the exc_info".
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # no reference cycle through the traceback
        elif self.status is not None:
            raise WSGIViolation(
                "start_response() called a second time without exc_info"
            )
        self.headers = _check_headers(headers)
        self.status = _check_status(status)
        return self._write

    def _write(self, data: bytes) -> None:
        # The legacy write() callable: the data comes before whatever the
        # body iterable yields next.
        if not isinstance(data, bytes):
            raise WSGIViolation(f"write() takes bytes, not {type(data).__name__}")
        if data:
            self.headers_sent = True
            self._written.append(data)

    def begin(self) -> None:
        """Call the application."""
        result = self.app(self.environ, self.start_response)
        returned: object = result
        if returned is None or isinstance(returned, (str, bytes, bytearray)):
            # Iterating bytes yields ints, and str is not bytes: both are bugs.
            raise WSGIViolation(
                f"the application returned {type(result).__name__}; it must "
                "return an iterable of bytes, e.g. [body]"
            )
        self._result = result
        self._iterator = iter(result)

    def chunks(self) -> Generator[bytes, None, None]:
        """Yield the non-empty chunks of the body, checking each one."""
        assert self._iterator is not None, "begin() first"
        iterator = self._iterator
        while True:
            yield from self._take_written()
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            if not isinstance(chunk, bytes):
                raise WSGIViolation(
                    f"the body iterable yielded {type(chunk).__name__}, not bytes"
                )
            if chunk:
                self._check_started()
                self.headers_sent = True
                yield chunk
        yield from self._take_written()

    def _take_written(self) -> List[bytes]:
        written, self._written = self._written, []
        return written

    def _check_started(self) -> None:
        if self.status is None:
            raise WSGIViolation(
                "the application produced body data before calling start_response()"
            )

    def finish(self) -> Tuple[str, List[Tuple[str, str]]]:
        """Return the status and headers once the body is exhausted."""
        if self.status is None:
            raise WSGIViolation(
                "the application returned without calling start_response()"
            )
        return self.status, self.headers

    def close(self) -> None:
        """Call the body iterable's ``close()``, once (PEP 3333 requires it)."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


class _ErrorCapture(logging.Handler):
    """Catch an exception that wsocket code logged instead of raising.

    The WebSocket middleware cannot raise an error of the app's session: the
    101 is sent, so it closes with 1011 and logs the traceback. Records of
    the ``wsocket`` loggers that carry an exception and were emitted by the
    thread running the app are that error.
    """

    def __init__(self, thread_id: int) -> None:
        super().__init__(logging.ERROR)
        self.thread_id = thread_id
        self.error: Optional[BaseException] = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.error is not None or record.thread != self.thread_id:
            return
        if record.exc_info and isinstance(record.exc_info[1], Exception):
            self.error = record.exc_info[1]


@contextlib.contextmanager
def _capture_logged_error() -> Iterator[_ErrorCapture]:
    handler = _ErrorCapture(threading.get_ident())
    logger = logging.getLogger(_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# --------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------


class TestResponse:
    """What the application answered to one request.

    Attributes:
        status: the status line, e.g. ``"404 Not Found"``.
        status_code: the status code, e.g. ``404``.
        headers: the response headers (:class:`ResponseHeaders`).
        cookies: the cookies this response sets, ``name → value`` (cookies
            it deletes are left out; see :attr:`TestClient.cookies`).
        environ: the environ the application was called with.
        app_error: the exception the application raised, when the client
            was created with ``raise_server_exceptions=False`` and answered
            500 in its place; otherwise ``None``.
    """

    __test__ = False  # not a test class, whatever its name says

    def __init__(
        self,
        status: str,
        headers: Iterable[Tuple[str, str]],
        chunks: Iterable[bytes] = (),
        *,
        environ: Optional[Dict[str, Any]] = None,
        app_error: Optional[BaseException] = None,
    ) -> None:
        self.status = status
        self.status_code = int(status[:3])
        self.headers = ResponseHeaders(headers)
        self.cookies: Dict[str, str] = {}
        for value in self.headers.get_all("Set-Cookie"):
            parsed = _parse_set_cookie(value)
            if parsed is not None and not parsed[2]:
                self.cookies[parsed[0]] = parsed[1]
        self.environ: Dict[str, Any] = environ if environ is not None else {}
        self.app_error = app_error
        self._chunks: List[bytes] = list(chunks)
        # Streaming: the rest of the body, and what ends the WSGI call.
        self._source: Optional[Generator[bytes, None, None]] = None
        self._close: Optional[Callable[[], None]] = None
        self._raise_errors = True

    def _stream_from(
        self,
        source: Generator[bytes, None, None],
        close: Callable[[], None],
        raise_errors: bool,
    ) -> None:
        self._source = source
        self._close = close
        self._raise_errors = raise_errors

    @property
    def body(self) -> bytes:
        """The whole body; for a streamed response, reads what is left first."""
        for _ in self.iter_body():
            pass
        return b"".join(self._chunks)

    @property
    def text(self) -> str:
        """The body decoded with the ``charset`` of ``Content-Type``, else UTF-8."""
        return self.body.decode(self.charset)

    @property
    def charset(self) -> str:
        """The ``charset`` parameter of ``Content-Type``, ``"utf-8"`` if none."""
        content_type = self.headers.get("Content-Type") or ""
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"

    def json(self) -> Any:
        """Parse the body as JSON.

        Raises:
            ValueError: if the body is not valid JSON.
        """
        return json_module.loads(self.body)

    def iter_body(self) -> Iterator[bytes]:
        """Yield the body's non-empty chunks from the start, as the app produced them.

        For a response requested with ``stream=True`` each chunk is pulled
        from the application when the loop asks for it; at the end, the
        app's ``close()`` is called.
        """
        index = 0
        while True:
            if index < len(self._chunks):
                yield self._chunks[index]
                index += 1
            elif not self._pull():
                return

    def _pull(self) -> bool:
        source = self._source
        if source is None:
            return False
        try:
            chunk = next(source)
        except StopIteration:
            self.close()
            return False
        except Exception as exc:
            self.close()
            if self._raise_errors:
                raise
            self.app_error = exc
            return False
        self._chunks.append(chunk)
        return True

    def close(self) -> None:
        """End a streamed response now: the app's ``close()`` is called.

        Calling it again, or on a response that is not streamed, does nothing.
        """
        source, close = self._source, self._close
        self._source = self._close = None
        if source is not None:
            source.close()
        if close is not None:
            close()

    def __enter__(self) -> TestResponse:
        return self

    def __exit__(
        self,
        exc_type: Optional[type],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TestResponse {self.status}>"


def _parse_set_cookie(header: str) -> Optional[Tuple[str, str, bool]]:
    """Parse a ``Set-Cookie`` value into ``(name, value, expired)``.

    Only what a one-host test jar needs: ``Max-Age`` (which wins, RFC 6265
    section 5.3) and ``Expires``; ``Path``, ``Domain`` and ``Secure`` are
    ignored. Returns ``None`` for a value without ``name=``.
    """
    pair, *attributes = header.split(";")
    name, sep, value = pair.partition("=")
    name = name.strip()
    if not sep or not name:
        return None
    max_age: Optional[int] = None
    expires: Optional[datetime.datetime] = None
    for attribute in attributes:
        key, _, raw = attribute.partition("=")
        key = key.strip().lower()
        raw = raw.strip()
        if key == "max-age":
            try:
                max_age = int(raw)
            except ValueError:
                pass  # RFC 6265 section 5.2.2: ignore an invalid Max-Age
        elif key == "expires":
            try:
                expires = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                pass
    if max_age is not None:
        expired = max_age <= 0
    elif expires is not None:
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.timezone.utc)
        expired = expires <= datetime.datetime.now(datetime.timezone.utc)
    else:
        expired = False
    return name, value.strip(), expired


# --------------------------------------------------------------------------
# WebSocket sessions
# --------------------------------------------------------------------------


class _AppRun:
    """The application serving one WebSocket request, in a background thread.

    It plays wsocket's own server: ``take_over`` hands out the server end of
    the socket pair. When the app answers with plain HTTP instead, that
    response is written on the socket for the client to read.
    """

    def __init__(
        self, app: WSGIApp, environ: Dict[str, Any], sock: socket.socket
    ) -> None:
        self.app = app
        self.environ = environ
        self.sock = sock
        self.error: Optional[BaseException] = None
        self.taken = False
        self._thread = threading.Thread(
            target=self._run, name="wsocket-testing-app", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait for the app to return; ``False`` if it is still running."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def take_over(self) -> Tuple[socket.socket, bytes]:
        if self.taken:
            raise RuntimeError("the connection was already taken over")
        self.taken = True
        return self.sock, b""

    def _run(self) -> None:
        with _capture_logged_error() as capture:
            exchange = _Exchange(self.app, self.environ)
            status, headers, body = _ERROR_STATUS, _ERROR_HEADERS, _ERROR_BODY
            try:
                try:
                    exchange.begin()
                    body = b"".join(exchange.chunks())
                    if not self.taken:
                        status, headers = exchange.finish()
                finally:
                    exchange.close()
            except BaseException as exc:  # reported to the test, not lost
                self.error = exc
                if not self.taken:
                    self._answer(_ERROR_STATUS, _ERROR_HEADERS, _ERROR_BODY)
            else:
                if not self.taken:
                    self._answer(status, headers, body)
            finally:
                if self.error is None:
                    self.error = capture.error
                # The session is over when the app returns: the client must
                # see the end even if the app took the socket and left it
                # open (the middleware's WebSocket has closed it already).
                self.sock.close()

    def _answer(self, status: str, headers: List[Tuple[str, str]], body: bytes) -> None:
        """Write an HTTP response, as a server does when there is no upgrade."""
        lines = [f"HTTP/1.1 {status}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers)
        lines.append("\r\n")
        try:
            self.sock.sendall("".join(lines).encode("latin-1") + body)
        except OSError:
            pass  # the client gave up waiting


class TestWebSocket(WebSocket):
    """The client side of a WebSocket session with an app under test.

    A :class:`~wsocket.connection.WebSocket` in the client role, plus what a
    test needs to see the server side end. Leaving the ``with`` block (or
    calling :meth:`close`) closes the connection with 1000 if it is still
    open, waits for the application to return, and raises what it raised.

    Attributes:
        response_headers: the headers of the ``101 Switching Protocols``.
        timeout: the seconds allowed for the closing handshake, and then for
            the application to return.
    """

    __test__ = False  # not a test class, whatever its name says

    def __init__(
        self,
        sock: socket.socket,
        protocol: Protocol,
        *,
        run: _AppRun,
        handshake: ClientHandshakeResult,
        timeout: float,
        raise_server_exceptions: bool,
    ) -> None:
        super().__init__(
            sock,
            protocol,
            subprotocol=handshake.subprotocol,
            close_timeout=timeout,
            extra=handshake.extra,
        )
        self.response_headers = ResponseHeaders(handshake.headers)
        self.timeout = timeout
        self._run = run
        self._raise_errors = raise_server_exceptions
        self._ended = False

    @property
    def app_error(self) -> Optional[BaseException]:
        """What the application raised, or logged with a traceback, during the session.

        Set once the application has returned, e.g. after the ``with`` block.
        Errors that the middleware turned into a 1011 close are here too.
        """
        return self._run.error

    @property
    def app_finished(self) -> bool:
        """Whether the application has returned."""
        return self._run.join(0)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait for the application to return.

        Args:
            code: the close code, if the connection is still open.
            reason: the close reason.

        Raises:
            TimeoutError: if the application was still running
                :attr:`timeout` seconds after the connection closed.
            Exception: whatever the application raised, once, if the client
                was created with ``raise_server_exceptions=True``.
        """
        super().close(code, reason)
        self._end()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        run = self._run
        if not run.join(self.timeout):
            raise TimeoutError(
                f"the application was still running {self.timeout:g}s after "
                f"the WebSocket closed: is it blocked on something else than "
                f"the connection?"
            )
        if run.error is not None and self._raise_errors:
            raise run.error

    def __exit__(
        self,
        exc_type: Optional[type],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        # A failed assertion in the block is no reason to tell the app 1011;
        # if the app raised too, its error is raised with the test's attached.
        self.close()


def _receive_handshake(
    sock: socket.socket, handshake: ClientHandshake, deadline: float
) -> ClientHandshakeResult:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            raise HandshakeError(
                "the application closed the connection without answering", 0
            )
        result = handshake.receive_data(data)
        if result is not None:
            sock.settimeout(None)
            return result
    raise TimeoutError("the application did not answer the WebSocket handshake in time")


# --------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------


def _header_pairs(headers: HeadersArg) -> List[Tuple[str, str]]:
    if headers is None:
        return []
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for name, value in items:
        if not isinstance(name, str):
            raise ValueError(f"invalid header name {name!r}")
        if not isinstance(value, str):
            raise TypeError(f"header {name!r}: the value must be str")
        check_field(name, value)
    return items


def _to_native(quoted: str) -> str:
    """Decode a percent-encoded path as PEP 3333 wants: bytes as latin-1 str."""
    return urllib.parse.unquote_to_bytes(quoted).decode("latin-1")


class TestClient:
    """Call a WSGI application the way a server would, without a server.

    Args:
        app: the WSGI application under test.
        base_url: the scheme, host and port the requests pretend to go to
            (``SERVER_NAME``, ``SERVER_PORT``, ``Host``,
            ``wsgi.url_scheme``); a path in it becomes ``SCRIPT_NAME``, the
            point where the app is mounted.
        raise_server_exceptions: raise in the test what the application
            raises (the default). With ``False`` the client answers
            ``500 Internal Server Error`` instead, as a server would, and
            keeps the exception in :attr:`TestResponse.app_error`.

    Attributes:
        cookies: the cookie jar, ``name → value``: every response's
            ``Set-Cookie`` updates it (``Max-Age=0`` or an ``Expires`` in the
            past deletes), and every request sends it. Edit it freely.
    """

    __test__ = False  # not a test class, whatever its name says

    def __init__(
        self,
        app: WSGIApp,
        *,
        base_url: str = "http://localhost",
        raise_server_exceptions: bool = True,
    ) -> None:
        if not callable(app):
            raise TypeError("TestClient(app): app must be a WSGI callable")
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(
                f"base_url {base_url!r} must be an http:// or https:// URL with a host"
            )
        self.app = app
        self.base_url = base_url
        self.raise_server_exceptions = raise_server_exceptions
        self.cookies: Dict[str, str] = {}
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self._netloc = parts.netloc.rpartition("@")[2]
        self._script = urllib.parse.quote(parts.path.rstrip("/"), safe=_PATH_SAFE)

    # -- building requests ---------------------------------------------------

    def _target(self, path: str, query: QueryArg) -> Tuple[str, str]:
        """Return the percent-encoded ``(path, query)`` of a request."""
        if path.startswith(("http://", "https://", "ws://", "wss://")):
            # An absolute URL, such as a Location header: the app is the
            # only host there is.
            parts = urllib.parse.urlsplit(path)
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
        path = path.partition("#")[0] or "/"
        if not path.startswith("/"):
            raise ValueError(f"the path {path!r} must start with /")
        path, _, path_query = path.partition("?")
        encoded_path = urllib.parse.quote(path, safe=_PATH_SAFE)
        queries = []
        if path_query:
            queries.append(urllib.parse.quote(path_query, safe=_QUERY_SAFE))
        if query:
            queries.append(urllib.parse.urlencode(query, doseq=True))
        return encoded_path, "&".join(queries)

    def _cookie_header(self, cookies: Optional[Mapping[str, str]]) -> Optional[str]:
        jar = dict(self.cookies)
        if cookies:
            jar.update(cookies)
        if not jar:
            return None
        return "; ".join(f"{name}={value}" for name, value in jar.items())

    def _environ(
        self,
        method: str,
        path: str,
        query: str,
        headers: Sequence[Tuple[str, str]],
        body: bytes,
        *,
        multithread: bool = False,
    ) -> Dict[str, Any]:
        environ: Dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": _to_native(self._script),
            "PATH_INFO": _to_native(path),
            "QUERY_STRING": query,
            "SERVER_NAME": self._host,
            "SERVER_PORT": str(self._port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "50000",
            "RAW_URI": self._script + path + ("?" + query if query else ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self._scheme,
            "wsgi.input": io.BytesIO(body),
            # Looked up per request: pytest swaps sys.stderr to capture it.
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if key in environ:
                # RFC 7230 section 3.2.2 joins repeated fields with commas;
                # RFC 6265 section 5.4 wants "; " between cookies.
                separator = "; " if key == "HTTP_COOKIE" else ", "
                environ[key] += separator + value
            else:
                environ[key] = value
        return environ

    # -- HTTP ----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        data: DataArg = None,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        stream: bool = False,
    ) -> TestResponse:
        """Send one HTTP request to the application and return its response.

        Args:
            method: the method, e.g. ``"GET"``.
            path: the path, optionally with ``?query``; non-ASCII characters
                are sent UTF-8 and percent-encoded. An absolute URL is
                accepted (its scheme and host are ignored).
            query: query parameters, appended to any in ``path``, as a
                mapping (a list value repeats the name) or a sequence of
                pairs; encoded as UTF-8.
            headers: request headers, a mapping or a sequence of pairs (a
                repeated name is joined with ``", "``, as servers do).
            data: the body: ``bytes`` as they are, ``str`` as UTF-8, form
                fields (mapping or pairs) as
                ``application/x-www-form-urlencoded``.
            json: a value to send as an ``application/json`` body.
            cookies: cookies for this request only, on top of the jar.
            stream: return as soon as the status and headers are known; the
                body is then pulled from the app by
                :meth:`TestResponse.iter_body` (use the response as a context
                manager, or exhaust it, so that the app's ``close()`` runs).

        Returns:
            the response.

        Raises:
            WSGIViolation: the application broke the WSGI contract (with
                ``raise_server_exceptions=True``).
            Exception: whatever the application raised (with
                ``raise_server_exceptions=True``).
            ValueError: invalid arguments: both ``data`` and ``json``, a bad
                header, a path that does not start with ``/``.
        """
        method = method.upper()
        if data is not None and json is not None:
            raise ValueError("give data or json, not both")
        header_list = _header_pairs(headers)
        names = {name.lower() for name, _ in header_list}
        body = b""
        content_type: Optional[str] = None
        if json is not None:
            body = json_module.dumps(json).encode("utf-8")
            content_type = "application/json"
        elif isinstance(data, bytes):
            body = data
        elif isinstance(data, str):
            body = data.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        elif data is not None:
            body = urllib.parse.urlencode(data, doseq=True).encode("ascii")
            content_type = "application/x-www-form-urlencoded"
        if "host" not in names:
            header_list.insert(0, ("Host", self._netloc))
        if content_type is not None and "content-type" not in names:
            header_list.append(("Content-Type", content_type))
        has_body = data is not None or json is not None
        if "content-length" not in names and (
            has_body or method in ("POST", "PUT", "PATCH")
        ):
            header_list.append(("Content-Length", str(len(body))))
        cookie = self._cookie_header(cookies)
        if cookie is not None:
            header_list.append(("Cookie", cookie))
        encoded_path, encoded_query = self._target(path, query)
        environ = self._environ(method, encoded_path, encoded_query, header_list, body)
        if method == "HEAD":
            stream = False  # nothing to stream: the body is dropped
        response = self._call(environ, stream=stream, keep_body=method != "HEAD")
        self._store_cookies(response)
        return response

    def _call(
        self, environ: Dict[str, Any], *, stream: bool, keep_body: bool
    ) -> TestResponse:
        exchange = _Exchange(self.app, environ)
        streaming = False
        with _capture_logged_error() as capture:
            try:
                try:
                    exchange.begin()
                    source = exchange.chunks()
                    chunks: List[bytes] = []
                    if stream:
                        # A server sends the status and headers with the
                        # first non-empty chunk (PEP 3333): wait for it.
                        first = next(source, None)
                        if first is not None:
                            response = TestResponse(
                                *exchange.finish(), [first], environ=environ
                            )
                            response._stream_from(
                                source, exchange.close, self.raise_server_exceptions
                            )
                            streaming = True
                            return response
                    else:
                        chunks = list(source)
                    status, headers = exchange.finish()
                finally:
                    if not streaming:
                        exchange.close()
            except Exception as exc:
                if self.raise_server_exceptions:
                    raise
                return TestResponse(
                    _ERROR_STATUS,
                    _ERROR_HEADERS,
                    [_ERROR_BODY],
                    environ=environ,
                    app_error=exc,
                )
        if capture.error is not None and self.raise_server_exceptions:
            raise capture.error
        return TestResponse(
            status,
            headers,
            chunks if keep_body else (),
            environ=environ,
            app_error=capture.error,
        )

    def _store_cookies(self, response: TestResponse) -> None:
        for value in response.headers.get_all("Set-Cookie"):
            parsed = _parse_set_cookie(value)
            if parsed is None:
                continue
            name, cookie, expired = parsed
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie

    def get(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        cookies: Optional[Mapping[str, str]] = None,
        stream: bool = False,
    ) -> TestResponse:
        """Send a ``GET`` request; see :meth:`request`."""
        return self.request(
            "GET", path, query=query, headers=headers, cookies=cookies, stream=stream
        )

    def head(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        cookies: Optional[Mapping[str, str]] = None,
    ) -> TestResponse:
        """Send a ``HEAD`` request; the body is dropped, as a server does."""
        return self.request("HEAD", path, query=query, headers=headers, cookies=cookies)

    def options(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        cookies: Optional[Mapping[str, str]] = None,
    ) -> TestResponse:
        """Send an ``OPTIONS`` request; see :meth:`request`."""
        return self.request(
            "OPTIONS", path, query=query, headers=headers, cookies=cookies
        )

    def post(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        data: DataArg = None,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        stream: bool = False,
    ) -> TestResponse:
        """Send a ``POST`` request; see :meth:`request`."""
        return self.request(
            "POST",
            path,
            query=query,
            headers=headers,
            data=data,
            json=json,
            cookies=cookies,
            stream=stream,
        )

    def put(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        data: DataArg = None,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        stream: bool = False,
    ) -> TestResponse:
        """Send a ``PUT`` request; see :meth:`request`."""
        return self.request(
            "PUT",
            path,
            query=query,
            headers=headers,
            data=data,
            json=json,
            cookies=cookies,
            stream=stream,
        )

    def patch(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        data: DataArg = None,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        stream: bool = False,
    ) -> TestResponse:
        """Send a ``PATCH`` request; see :meth:`request`."""
        return self.request(
            "PATCH",
            path,
            query=query,
            headers=headers,
            data=data,
            json=json,
            cookies=cookies,
            stream=stream,
        )

    def delete(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        headers: HeadersArg = None,
        data: DataArg = None,
        json: Any = None,
        cookies: Optional[Mapping[str, str]] = None,
        stream: bool = False,
    ) -> TestResponse:
        """Send a ``DELETE`` request; see :meth:`request`."""
        return self.request(
            "DELETE",
            path,
            query=query,
            headers=headers,
            data=data,
            json=json,
            cookies=cookies,
            stream=stream,
        )

    # -- WebSocket -----------------------------------------------------------

    def websocket_connect(
        self,
        path: str = "/",
        *,
        query: QueryArg = None,
        subprotocols: Sequence[str] = (),
        headers: HeadersArg = None,
        cookies: Optional[Mapping[str, str]] = None,
        compression: Compression = None,
        timeout: float = 5.0,
    ) -> TestWebSocket:
        """Open a WebSocket session with the application.

        Use it as a context manager::

            with client.websocket_connect("/chat", subprotocols=["chat.v1"]) as ws:
                assert ws.subprotocol == "chat.v1"
                ws.send("hello")
                assert ws.receive() == "hello"

        Args:
            path: the path, optionally with ``?query``, as for :meth:`request`.
            query: query parameters, as for :meth:`request`.
            subprotocols: subprotocols to offer, most preferred first.
            headers: extra request headers (``Origin``, ``Authorization``...).
                The handshake's own headers (``Upgrade``, ``Sec-WebSocket-*``)
                cannot be set.
            cookies: cookies for this request only, on top of the jar.
            compression: ``"deflate"`` to offer permessage-deflate; ``None``
                (the default) offers no compression.
            timeout: seconds allowed for the handshake, for the closing
                handshake, and for the application to return after the
                connection closed.

        Returns:
            the open connection, client side.

        Raises:
            HandshakeError: the application refused the upgrade or answered
                plain HTTP; ``status`` holds its status (0 if it answered
                nothing).
            TimeoutError: the application did not answer within ``timeout``.
            Exception: what the application raised before answering, if the
                client was created with ``raise_server_exceptions=True``.
        """
        if timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        header_list = _header_pairs(headers)
        cookie = self._cookie_header(cookies)
        if cookie is not None:
            header_list.append(("Cookie", cookie))
        encoded_path, encoded_query = self._target(path, query)
        resource = self._script + encoded_path
        if encoded_query:
            resource += "?" + encoded_query
        handshake = ClientHandshake(
            host=self._host,
            port=self._port,
            resource=resource,
            secure=self._scheme == "https",
            subprotocols=subprotocols,
            headers=header_list,
            compression=deflate_options(compression),
        )
        # The environ's headers are those of the request a client sends, read
        # back by the parser wsocket's server uses.
        request = RequestReader().read(bytearray(handshake.request_bytes()))
        assert request is not None  # request_bytes() ends with an empty line
        environ = self._environ(
            "GET", encoded_path, encoded_query, request.headers, b"", multithread=True
        )
        client_sock, server_sock = socket.socketpair()
        run = _AppRun(self.app, environ, server_sock)
        environ["wsocket.take_over"] = run.take_over
        try:
            run.start()
            result = _receive_handshake(
                client_sock, handshake, time.monotonic() + timeout
            )
        except BaseException as exc:
            client_sock.close()
            # The app has answered, or will see EOF now: let it finish,
            # unless it is the one not answering.
            if run.join(0 if isinstance(exc, TimeoutError) else timeout):
                server_sock.close()
                if (
                    run.error is not None
                    and self.raise_server_exceptions
                    and isinstance(exc, HandshakeError)
                ):
                    raise run.error from None  # the cause, rather than its 500
            raise
        protocol = Protocol(CLIENT, max_message_size=None, deflate=result.deflate)
        return TestWebSocket(
            client_sock,
            protocol,
            run=run,
            handshake=result,
            timeout=timeout,
            raise_server_exceptions=self.raise_server_exceptions,
        )
