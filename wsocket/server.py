"""wsocket's own HTTP/1.1 WSGI server, the one behind :func:`wsocket.run`.

It serves each connection in a thread, or in a greenlet when given gevent
sockets (``concurrency="gevent"``), and exposes the connection to the
WebSocket middleware through ``environ["wsocket.take_over"]``.

What it does: HTTP/1.1 keep-alive and pipelining-safe request parsing
(strict, through :mod:`wsocket.http11`),
``Content-Length`` and chunked request bodies, ``Expect: 100-continue``,
chunked responses when the length is unknown, TCP_NODELAY and one write for
the head and the first chunk of the body, no reverse DNS lookups, a cap on
open connections (503 beyond it), timeouts on idle and slow clients, and a
graceful stop that closes open WebSockets with 1001.

What it does not: TLS (put a reverse proxy in front), HTTP/2.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import queue
import socket
import sys
import threading
import time
from http import HTTPStatus
from types import FunctionType, MethodType
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from . import registry
from .concurrency import write_all
from .http11 import (
    BodyReader,
    HTTPParseError,
    Limits,
    RequestHead,
    RequestReader,
    body_reader,
)

__all__ = [
    "WSGIServer",
    "make_server",
    "run",
    "import_app",
    "bind_socket",
    "PortInUse",
    "AppNotFound",
]

logger = logging.getLogger("wsocket.server")
#: One line per request: client, request line, status, bytes sent, duration.
access_logger = logging.getLogger("wsocket.access")
_INFO = logging.INFO


class PortInUse(OSError):
    """The address and port asked for are taken by another program."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"port {port} on {host} is already in use: stop the program "
            f"listening there, or pick another port (port=0 picks a free one)",
        )
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


class AppNotFound(ImportError):
    """A ``"module:app"`` string does not lead to a WSGI application."""


_REASONS = {status.value: status.phrase for status in HTTPStatus}
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "transfer-encoding"))


class _ClientGone(ConnectionError):
    """Writing the response failed because the client closed its end."""


class _BadRequest(Exception):
    """A request the server answers with an error status: 400, 408."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Input:
    """``wsgi.input``: the request body, ending where its framing says.

    The bytes come from the connection's buffer through the body reader of
    :mod:`wsocket.http11`; reading never goes past the end of the body into
    the next request.
    """

    __slots__ = ("_conn", "_reader", "_pending", "_continue")

    def __init__(
        self, conn: _Connection, reader: BodyReader, expect_continue: bool
    ) -> None:
        self._conn = conn
        self._reader = reader
        self._pending = bytearray()
        self._continue = expect_continue

    def _pull(self) -> bool:
        """Decode more body bytes into the pending buffer; False at the end."""
        conn = self._conn
        while True:
            data = self._reader.read(conn.buf, 65536)
            if data is None:
                if self._continue:
                    # RFC 9110 section 10.1.1: the client waits for this
                    # before it sends the body; send it on the first read.
                    self._continue = False
                    write_all(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    conn.read_more()
                except socket.timeout:
                    raise _BadRequest(
                        408,
                        f"the request body did not arrive within "
                        f"{conn.server.timeout:g} s (timeout)",
                    ) from None
                except EOFError:
                    raise _BadRequest(400, "incomplete request body") from None
                continue
            if not data:
                return False
            self._pending += data
            return True

    def _take(self, n: int) -> bytes:
        data = bytes(self._pending[:n])
        del self._pending[:n]
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            while self._pull():
                pass
            return self._take(len(self._pending))
        while len(self._pending) < size and self._pull():
            pass
        return self._take(size)

    def readline(self, size: Optional[int] = -1) -> bytes:
        limit = sys.maxsize if size is None or size < 0 else size
        while True:
            nl = self._pending.find(b"\n", 0, limit)
            if nl >= 0:
                return self._take(nl + 1)
            if len(self._pending) >= limit or not self._pull():
                return self._take(limit)

    def readlines(self, hint: int = -1) -> List[bytes]:
        return list(self)

    def __iter__(self) -> Any:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def drain(self) -> None:
        """Discard what the app did not read, to reach the next request."""
        self._pending.clear()
        while self._pull():
            self._pending.clear()


class _FileWrapper:
    """``wsgi.file_wrapper``: lets the server send a file with ``sendfile()``."""

    def __init__(self, filelike: Any, blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Any:
        read = self.filelike.read
        while True:
            data = read(self.blksize)
            if not data:
                return
            yield data


def _content_length(headers: List[Tuple[str, str]]) -> Optional[int]:
    for name, value in headers:
        if name.lower() == "content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _Errors:
    """``wsgi.errors``: writes to the ``wsocket.server`` logger."""

    def write(self, text: str) -> None:
        text = text.rstrip()
        if text:
            logger.error("%s", text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


_errors = _Errors()

# Environ keys by header name, shared by every request: each connection
# would otherwise hold its own copies for as long as its environ lives (a
# WebSocket's lifetime). Bounded, since clients choose the names.
_environ_keys: Dict[str, str] = {}
_ENVIRON_KEYS_MAX = 512
_ENVIRON_KEY_NAME_MAX = 64


def _environ_key(name: str) -> str:
    """The environ key of header ``name`` (without ``_``), remembered if it fits."""
    key = name.upper().replace("-", "_")
    if key != "CONTENT_TYPE" and key != "CONTENT_LENGTH":
        key = "HTTP_" + key
    if len(name) <= _ENVIRON_KEY_NAME_MAX and len(_environ_keys) < _ENVIRON_KEYS_MAX:
        _environ_keys[name] = key
    return key


class _Connection:
    """One client connection: reads requests, runs the app, writes responses."""

    __slots__ = (
        "server",
        "sock",
        "addr",
        "buf",
        "reader",
        "taken",
        "idle",
        "status",
        "sent_bytes",
    )

    def __init__(self, server: WSGIServer, sock: Any, addr: Any) -> None:
        self.server = server
        self.sock = sock
        self.addr = addr
        self.buf = bytearray()
        self.reader = RequestReader(server.limits)
        self.taken = False
        self.idle = True
        # For the access log: the status sent and the body bytes written.
        self.status = ""
        self.sent_bytes = 0

    def read_more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def serve(self) -> None:
        server = self.server
        sock = self.sock
        try:
            while not server.stopping:
                self.idle = True
                request = self._read_request()
                if request is None:
                    return
                self.idle = False
                sock.settimeout(server.timeout)
                # Once the environ is built, nothing below holds the parsed
                # head: a WebSocket session that follows may last hours, and
                # the header list would stay alive all that time.
                environ = self._environ(request)
                keep_alive = request.keep_alive
                method, target = request.method, request.target
                del request
                if not self._handle(environ, keep_alive, method, target) or self.taken:
                    return
        except (HTTPParseError, _BadRequest) as exc:
            self._simple_response(exc.status, exc.reason)
            self._lingering_close()
        except (ConnectionError, socket.timeout, EOFError, OSError):
            pass
        finally:
            if not self.taken:
                try:
                    sock.close()
                except OSError:  # pragma: no cover
                    pass

    def _read_request(self) -> Optional[RequestHead]:
        """Read the next request head; ``None`` when the client is gone.

        Until the first byte of a request arrives, the connection may stay
        quiet for ``keepalive_timeout`` seconds; from that byte on, the whole
        head must arrive within ``head_timeout`` seconds (else 408), however
        the client spreads it out.
        """
        server = self.server
        buf = self.buf
        deadline: Optional[float] = None
        while True:
            if buf and deadline is None:
                deadline = time.monotonic() + server.head_timeout
            request = self.reader.read(buf)
            if request is not None:
                return request
            if deadline is None:
                wait = server.keepalive_timeout
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    raise _BadRequest(408, self._head_timeout_reason())
            self.sock.settimeout(wait)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                if deadline is None:
                    return None
                raise _BadRequest(408, self._head_timeout_reason()) from None
            except OSError:
                return None
            if not data:
                if buf:
                    raise _BadRequest(400, "incomplete request head")
                return None
            buf += data

    def _lingering_close(self) -> None:
        """Read what the client still sends before closing, for a while.

        Closing a socket with unread input makes the kernel send a reset,
        which can destroy the error response before the client reads it.
        Reading stops at the client's end of input, after 1 MiB, or after
        2 seconds, whichever comes first.
        """
        sock = self.sock
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 2.0
            budget = 1 << 20
            while budget > 0:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return
                sock.settimeout(wait)
                data = sock.recv(65536)
                if not data:
                    return
                budget -= len(data)
        except OSError:
            pass

    def _head_timeout_reason(self) -> str:
        return (
            f"the request head did not arrive within "
            f"{self.server.head_timeout:g} s (head_timeout)"
        )

    def _environ(self, request: RequestHead) -> Dict[str, Any]:
        target = request.target
        path, _, query = target.partition("?")
        if path.startswith(("http://", "https://")):
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        server = self.server
        environ: Dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _unquote_path(path),
            "QUERY_STRING": query,
            "SERVER_NAME": server.host,
            "SERVER_PORT": str(server.port),
            "SERVER_PROTOCOL": request.version,
            "REMOTE_ADDR": self.addr[0] if isinstance(self.addr, tuple) else "",
            "REMOTE_PORT": str(self.addr[1]) if isinstance(self.addr, tuple) else "",
            "RAW_URI": target,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": _errors,
            "wsgi.multithread": server.concurrency == "threading",
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        keys = _environ_keys
        for name, value in request.headers:
            key = keys.get(name)
            if key is None:
                if "_" in name:
                    continue  # "X_Foo" would pass for "X-Foo": drop ambiguous names
                key = _environ_key(name)
            if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
                environ[key] = value
                continue
            if key in environ:
                environ[key] += "," + value
            else:
                environ[key] = value
        expect = environ.get("HTTP_EXPECT", "").lower() == "100-continue"
        body = _Input(self, body_reader(request, server.limits), expect)
        environ["wsgi.input"] = body
        # The body reader returns b"" at its end, chunked or not.
        environ["wsgi.input_terminated"] = True
        environ["wsgi.file_wrapper"] = _FileWrapper
        if "HTTP_UPGRADE" in environ:
            environ["wsocket.take_over"] = self._take_over
        return environ

    def is_taken(self) -> bool:
        """Tell whether the WebSocket middleware took the connection."""
        return self.taken

    def _take_over(self) -> Tuple[Any, bytes]:
        """Hand the raw connection to the caller (the WebSocket middleware)."""
        self.taken = True
        self.sock.settimeout(None)
        extra = bytes(self.buf)
        self.buf = bytearray()
        return self.sock, extra

    def _handle(
        self, environ: Dict[str, Any], keep_alive: bool, method: str, target: str
    ) -> bool:
        """Serve one request; True to read another on this connection.

        ``method`` and ``target`` are the request's, for the access log (the
        application may change the environ).
        """
        if not access_logger.isEnabledFor(_INFO):
            return self._exchange(environ, keep_alive, method)
        started = time.monotonic()
        self.status = ""
        self.sent_bytes = 0
        try:
            return self._exchange(environ, keep_alive, method)
        finally:
            self._log_access(method, target, started)

    def _log_access(self, method: str, target: str, started: float) -> None:
        status = "101" if self.taken else (self.status[:3] or "-")
        client = self.addr[0] if isinstance(self.addr, tuple) else "-"
        access_logger.info(
            '%s "%s %s" %s %d %.1fms',
            client,
            method,
            target,
            status,
            self.sent_bytes,
            (time.monotonic() - started) * 1000,
        )

    def _exchange(self, environ: Dict[str, Any], keep_alive: bool, method: str) -> bool:
        is_head = method == "HEAD"
        response = _Response(self, environ, keep_alive, is_head)
        try:
            result = self.server._entry_point()(environ, response.start_response)
        except (HTTPParseError, _BadRequest) as exc:
            # The app read a malformed body: the client's fault, not the app's.
            if not self.taken and not response.sent:
                self._simple_response(exc.status, exc.reason)
                self._lingering_close()
            return False
        except Exception:
            logger.exception("error in WSGI application for %s", environ["PATH_INFO"])
            if self.taken:
                return False
            self._simple_response(500, "Internal Server Error", keep_alive=False)
            return False
        write = response.write
        try:
            if self.taken:
                return False
            if response.status is None and not isinstance(result, (list, tuple)):
                # Let a generator run up to its start_response() call.
                iterator = iter(result)
                first = next(iterator, None)
                body: Iterable[bytes] = [first] if first is not None else []
                rest: Iterable[bytes] = iterator
            else:
                body = result
                rest = ()
            if response.status is None:
                raise RuntimeError("the WSGI application did not call start_response()")
            if (
                isinstance(result, _FileWrapper)
                and not is_head
                and self._sendfile(result, response.headers, write)
            ):
                return response.keep_alive
            if isinstance(body, (list, tuple)) and len(body) <= 1 and not rest:
                response.last = True
                write(body[0] if body else b"")
            else:
                for chunk in body:
                    write(chunk)
                for chunk in rest:
                    write(chunk)
            if not response.sent:
                response.last = True
                write(b"")
            elif response.chunked and not is_head:
                try:
                    self.sock.sendall(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError) as exc:
                    raise _ClientGone(str(exc)) from exc
        except _ClientGone as exc:
            # The client left while the response was being written: nothing
            # to report but the fact.
            logger.debug("client went away during %s: %s", environ["PATH_INFO"], exc)
            return False
        except (HTTPParseError, _BadRequest) as exc:
            if not response.sent and not self.taken:
                self._simple_response(exc.status, exc.reason)
                self._lingering_close()
            return False
        except Exception:
            logger.exception("error in WSGI application for %s", environ["PATH_INFO"])
            if not response.sent and not self.taken:
                self._simple_response(500, "Internal Server Error", keep_alive=False)
            return False  # a half-sent response ends the connection
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    logger.exception("error closing the response iterable")
        if self.is_taken():
            return False
        if "wsocket.take_over" in environ:
            from .servers import note_unanswered_upgrade

            note_unanswered_upgrade(environ, response.status)
        if response.keep_alive:
            try:
                environ["wsgi.input"].drain()
            except (HTTPParseError, _BadRequest):
                return False
        return response.keep_alive

    def _sendfile(
        self,
        wrapper: _FileWrapper,
        headers: List[Tuple[str, str]],
        write: Callable[[bytes], None],
    ) -> bool:
        """Send a whole file with ``sendfile()``; False to fall back to reads."""
        length = _content_length(headers)
        filelike = wrapper.filelike
        try:
            filelike.fileno()
            offset = filelike.tell()
        except (AttributeError, OSError, ValueError):
            return False
        if length is None:
            return False
        write(b"")  # the head, with the app's Content-Length
        sent = self.sock.sendfile(filelike, offset, length) if length else 0
        if sent != length:
            raise OSError(f"sendfile sent {sent} of {length} bytes")
        return True

    def _simple_response(
        self, status: int, text: str, keep_alive: bool = False
    ) -> None:
        body = (text + "\n").encode("utf-8")
        self.status = str(status)
        self.sent_bytes += len(body)
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        ).encode("latin-1")
        try:
            write_all(self.sock, head + body)
        except OSError:
            pass


class _Response:
    """The response to one request, as the application hands it over.

    The application gets the bound :meth:`start_response`. One small object
    rather than closures over a dozen cells: a WebSocket middleware holds on
    to ``start_response`` for the whole session.
    """

    __slots__ = (
        "conn",
        "environ",
        "keep_alive",
        "is_head",
        "status",
        "headers",
        "sent",
        "chunked",
        "last",
    )

    def __init__(
        self,
        conn: _Connection,
        environ: Dict[str, Any],
        keep_alive: bool,
        is_head: bool,
    ) -> None:
        self.conn = conn
        self.environ = environ
        self.keep_alive = keep_alive
        self.is_head = is_head
        self.status: Optional[str] = None
        self.headers: List[Tuple[str, str]] = []
        self.sent = False
        self.chunked = False
        # The next write is the whole body: its length can go in the head.
        self.last = False

    def start_response(
        self, status: str, headers: List[Tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called twice without exc_info")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        try:
            self._send(data)
        except OSError as exc:
            if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                raise _ClientGone(str(exc)) from exc
            raise

    def _send(self, data: bytes) -> None:
        conn = self.conn
        if conn.taken:
            return
        if not self.sent:
            status = self.status
            if status is None:
                raise TypeError("write() called before start_response()")
            head_bytes, self.chunked, self.keep_alive = _response_head(
                status,
                self.headers,
                self.environ,
                self.keep_alive,
                self.is_head,
                len(data) if self.last else None,
            )
            self.sent = True
            conn.status = status
            if self.is_head:
                write_all(conn.sock, head_bytes)
                return
            conn.sent_bytes += len(data)
            if self.chunked and data:
                write_all(
                    conn.sock, head_bytes + b"%x\r\n" % len(data) + data + b"\r\n"
                )
            else:
                write_all(conn.sock, head_bytes + data)
            return
        if self.is_head or not data:
            return
        conn.sent_bytes += len(data)
        if self.chunked:
            write_all(conn.sock, b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            write_all(conn.sock, data)


def _entry(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app``, or its ``__call__`` bound to it when that is a Python function.

    CPython runs a call to a Python function, bound or not, in the
    interpreter loop already running; calling an instance goes through its
    type's call slot, in C, which starts another run of the loop. Under
    gevent that C frame stays on the greenlet's stack, and the stack is
    copied to the heap each time the greenlet waits: a WebSocket session
    (an instance of :class:`~wsocket.WebSocketMiddleware` at the top) waits
    most of its life.
    """
    for klass in type(app).__mro__:
        call = klass.__dict__.get("__call__")
        if call is not None:
            # A plain function only: not a staticmethod, nor one in C.
            return MethodType(call, app) if type(call) is FunctionType else app
    return app


def _unquote_path(path: str) -> str:
    if "%" not in path:
        return path
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(path).decode("latin-1")


def _response_head(
    status: str,
    headers: List[Tuple[str, str]],
    environ: Dict[str, Any],
    keep_alive: bool,
    is_head: bool,
    known_length: Optional[int],
) -> Tuple[bytes, bool, bool]:
    """Build the status line and headers; decide on framing and keep-alive."""
    code = int(status[:3])
    has_length = False
    parts = [f"HTTP/1.1 {status}\r\n"]
    for name, value in headers:
        lname = name.lower()
        if lname == "content-length":
            has_length = True
        elif lname in _HOP_BY_HOP:
            if lname == "connection" and "close" in value.lower():
                keep_alive = False
            continue
        parts.append(f"{name}: {value}\r\n")
    chunked = False
    no_body = code < 200 or code in (204, 304)
    if not has_length and not no_body:
        if known_length is not None and not is_head:
            parts.append(f"Content-Length: {known_length}\r\n")
        elif environ["SERVER_PROTOCOL"] == "HTTP/1.1" and not is_head:
            parts.append("Transfer-Encoding: chunked\r\n")
            chunked = True
        elif not is_head:
            keep_alive = False
    parts.append(
        "Connection: keep-alive\r\n\r\n" if keep_alive else "Connection: close\r\n\r\n"
    )
    return "".join(parts).encode("latin-1"), chunked, keep_alive


#: A function and its arguments, for a worker thread.
_Task = Tuple[Callable[..., None], Tuple[Any, ...]]


class _Workers:
    """Threads that serve connections, kept a while to serve the next ones.

    Starting a thread per connection cost the threading server a third of
    its handshakes. A connection goes to a worker that finished its last
    one if there is any, else to a new thread; a worker idle for
    ``linger`` seconds ends. There are never more workers than tasks ran
    at once, which the server bounds with ``max_connections``.
    """

    def __init__(self, linger: float = 30.0) -> None:
        self.linger = linger
        self._tasks: queue.SimpleQueue[Optional[_Task]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: Workers waiting for a task that no submit() has claimed yet.
        self._idle = 0

    def submit(self, func: Callable[..., None], *args: Any) -> None:
        """Run ``func(*args)`` in a worker thread."""
        with self._lock:
            claimed = self._idle > 0
            if claimed:
                self._idle -= 1
        if claimed:
            self._tasks.put((func, args))
        else:
            threading.Thread(
                target=self._work,
                args=((func, args),),
                name="wsocket-worker",
                daemon=True,
            ).start()

    def close(self) -> None:
        """End the idle workers now, not ``linger`` seconds from now."""
        with self._lock:
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._tasks.put(None)

    def _work(self, task: Optional[_Task]) -> None:
        while task is not None:
            func, args = task
            try:
                func(*args)
            except BaseException:  # pragma: no cover - tasks handle their own
                logger.exception("unexpected error in a server worker")
            del task, func, args  # nothing of the last connection kept while idle
            task = self._next()

    def _next(self) -> Optional[_Task]:
        """Wait for the next task; ``None`` once idle for ``linger`` seconds."""
        with self._lock:
            self._idle += 1
        while True:
            try:
                return self._tasks.get(timeout=self.linger)
            except queue.Empty:
                with self._lock:
                    # Leave only if no submit() counted on this wait: else
                    # its task is on the way.
                    if self._idle > 0:
                        self._idle -= 1
                        return None


class _GreenWorkers:
    """Greenlets that serve one connection after another, for the gevent server.

    A new greenlet costs more than its creation: its first Python call maps
    a fresh 16 KiB frame stack, unmapped when it ends (two system calls and
    the page faults between them, per connection). A greenlet that finished
    its connection waits for the next instead, switched to by the hub with
    no watcher or timer; at most ``keep`` wait, the others end. As in a
    thread pool, a greenlet-local value (``gevent.local``, or
    ``threading.local`` when monkey-patched) outlives the connection that set
    it; each connection starts in an empty :mod:`contextvars` context, as in
    a new greenlet.
    """

    def __init__(self, keep: int = 128) -> None:
        import gevent

        self.keep = keep
        self._idle: List[Any] = []
        self._hub = gevent.get_hub()
        self._spawn_raw = gevent.spawn_raw
        self._getcurrent = gevent.getcurrent

    def submit(self, func: Callable[..., None], *args: Any) -> None:
        """Run ``func(*args)`` in a greenlet of its own, soon."""
        if self._idle:
            self._hub.loop.run_callback(self._idle.pop().switch, (func, args))
        else:
            # A raw greenlet rather than a gevent.Greenlet: nothing joins,
            # kills or links the connections' greenlets (the task reports its
            # own errors), and a Greenlet costs 1.2 KiB more, with a deeper C
            # stack to save each time it waits.
            self._spawn_raw(self._work, (func, args))

    def close(self) -> None:
        """End the greenlets waiting for work (those at work end after it)."""
        self.keep = 0
        idle, self._idle = self._idle, []
        for worker in idle:
            self._hub.loop.run_callback(worker.switch, None)

    def _work(self, task: Optional[_Task]) -> None:
        me = self._getcurrent()
        while task is not None:
            func, args = task
            if len(args) == 2:
                # A connection (the usual task): a call the interpreter runs
                # in this C frame, where func(*args) would start another,
                # and a waiting greenlet keeps its C stack.
                func(args[0], args[1])
            else:
                func(*args)
            del task, func, args  # nothing of the last connection kept while idle
            me.gr_context = None  # nor its context variables
            task = self._next(me)

    def _next(self, me: Any) -> Optional[_Task]:
        """Wait for the next task; ``None`` to end."""
        idle = self._idle
        if len(idle) >= self.keep:
            return None
        idle.append(me)
        try:
            while True:
                task = self._hub.switch()
                # Anything else is a stray wake-up: keep waiting.
                if task is None or type(task) is tuple:
                    return task
        except BaseException:
            # Thrown in while waiting (the hub is going away).
            if me in idle:
                idle.remove(me)
            raise


class WSGIServer:
    """Serve a WSGI app on a TCP socket with threads or gevent greenlets.

    Args:
        app: the WSGI application.
        host: the address to bind; ``127.0.0.1`` by default.
        port: the port; ``0`` picks a free one (see :attr:`port`).
        concurrency: ``"threading"`` or ``"gevent"``.
        max_connections: open connections allowed (2048: room for a
            thousand WebSockets and their HTTP traffic); beyond, clients get
            503.
        timeout: seconds a socket operation (reading the request body,
            writing the response) may wait for the client.
        keepalive_timeout: seconds a connection may stay quiet before it
            sends a request (the first one, or the next with keep-alive).
        head_timeout: seconds a client has to send a whole request head once
            its first byte arrived; a client that trickles it gets 408.
        limits: the HTTP/1.1 parsing limits (request line, header count and
            size, chunk lines, trailers); see :class:`wsocket.http11.Limits`.
        backlog: the listen queue length.
        sock: a listening socket to serve on instead of binding ``host`` and
            ``port`` (see :func:`bind_socket`); its address is used. Several
            processes may serve on one socket inherited across a fork.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        concurrency: str = "threading",
        max_connections: int = 2048,
        timeout: float = 30.0,
        keepalive_timeout: float = 15.0,
        head_timeout: float = 10.0,
        limits: Optional[Limits] = None,
        backlog: int = 1024,
        sock: Optional[socket.socket] = None,
    ) -> None:
        if concurrency not in ("threading", "gevent"):
            raise ValueError("concurrency must be 'threading' or 'gevent'")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.app = app
        # The app and how to call it (see _entry), worked out once per app.
        self._entry_app: Any = None
        self._entry_call: Callable[..., Any] = app
        self.host = host
        self.concurrency = concurrency
        self.max_connections = max_connections
        self.timeout = timeout
        self.keepalive_timeout = keepalive_timeout
        if head_timeout <= 0:
            raise ValueError("head_timeout must be a positive number of seconds")
        self.head_timeout = head_timeout
        self.limits = limits if limits is not None else Limits()
        self._stopping = threading.Event()
        self._active = 0
        self._count_lock = threading.Lock()
        self._connections: Set[_Connection] = set()
        #: False for a socket passed in, which other processes may share.
        self._owns_socket = sock is None
        if sock is None:
            sock = bind_socket(host, port, backlog=backlog)
        else:
            self.host = sock.getsockname()[0]
            if concurrency == "threading":
                # stop() cannot shut a shared socket down to wake accept()
                # (that would stop the other processes too): wake up now
                # and then instead. Accepted sockets stay blocking.
                sock.settimeout(0.5)
        if concurrency == "gevent":
            from gevent import socket as gsocket

            if not isinstance(sock, gsocket.socket):
                # The same listening socket, made cooperative.
                sock = gsocket.socket(
                    sock.family, sock.type, sock.proto, fileno=sock.detach()
                )
        self.socket: Any = sock
        #: The port actually bound (useful with ``port=0``).
        self.port: int = self.socket.getsockname()[1]
        self._stopped = threading.Event()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping.is_set()

    @property
    def url(self) -> str:
        """``http://host:port/`` of the listening socket."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        """Accept connections until :meth:`stop` is called."""
        listener = self.socket
        workers = self._spawner()
        spawn = workers.submit
        try:
            while not self.stopping:
                try:
                    sock, addr = listener.accept()
                except OSError:
                    if self._stopping.is_set():
                        break
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._count_lock:
                    full = self._active >= self.max_connections
                    if not full:
                        self._active += 1
                if full:
                    spawn(self._refuse, sock)
                    continue
                spawn(self._serve, sock, addr)
        finally:
            workers.close()
            self._stopped.set()

    def _entry_point(self) -> Callable[..., Any]:
        """How to call :attr:`app` (see :func:`_entry`), again if it changed."""
        app = self.app
        if self._entry_app is not app:
            self._entry_call = _entry(app)
            self._entry_app = app
        return self._entry_call

    def _spawner(self) -> Union[_Workers, _GreenWorkers]:
        if self.concurrency == "gevent":
            return _GreenWorkers()
        return _Workers()

    def _serve(self, sock: Any, addr: Any) -> None:
        conn = _Connection(self, sock, addr)
        self._connections.add(conn)
        try:
            conn.serve()
        except Exception:  # pragma: no cover - the connection logs its own
            logger.exception("unexpected error serving %s", addr)
        finally:
            self._connections.discard(conn)
            with self._count_lock:
                self._active -= 1

    def _refuse(self, sock: Any) -> None:
        body = b"Service Unavailable: too many open connections\n"
        try:
            sock.settimeout(2)
            sock.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
        except OSError:
            pass
        finally:
            sock.close()

    @property
    def active_connections(self) -> int:
        """Connections being served now (HTTP and WebSocket)."""
        return self._active

    def _shutdown_listener(self) -> None:
        # shutdown() wakes a thread blocked in accept() on an owned socket;
        # a shared one stays listening for the other processes.
        if self._owns_socket:
            self.socket.shutdown(socket.SHUT_RDWR)

    def _stop_accepting(self) -> None:
        """Make :meth:`serve_forever` return soon; safe in a signal handler."""
        self._stopping.set()
        try:
            # shutdown() wakes a thread blocked in accept(); close() alone does not.
            self._shutdown_listener()
        except OSError:
            pass

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, close open WebSockets with 1001, return within ``grace`` s.

        Idle keep-alive connections are closed at once. Every open WebSocket
        gets a 1001 Close after the frame it is sending, as soon as its
        socket can take it, so that a connected client learns at once that
        it should reconnect. Whatever is still open when ``grace`` runs out
        (a client that does not read, a slow HTTP response) is aborted.
        """
        self._stop_accepting()
        try:
            self.socket.close()
        except OSError:  # pragma: no cover
            pass
        deadline = time.monotonic() + grace
        for conn in list(self._connections):
            if conn.idle and not conn.taken:
                # Waiting for another keep-alive request: end it now.
                _shutdown(conn.sock)
        registry.close_all(1001, "server shutting down", grace=grace)
        sleep = self._sleep()
        while self._active and time.monotonic() < deadline:
            # A WebSocket whose 101 went out just before the stop may be
            # registered only now, after close_all() looked: it gets its
            # 1001 here rather than being aborted when grace runs out.
            registry.close_all(1001, "server shutting down")
            sleep(0.01)
        for conn in list(self._connections):
            _shutdown(conn.sock)  # grace is over: abort what is left

    def _sleep(self) -> Callable[[float], None]:
        if self.concurrency == "gevent":
            import gevent

            return gevent.sleep  # type: ignore[no-any-return]
        return time.sleep


def _shutdown(sock: Any) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def bind_socket(
    host: str = "127.0.0.1", port: int = 8080, *, backlog: int = 1024
) -> socket.socket:
    """Open a TCP socket listening on ``host:port``, as :class:`WSGIServer` does.

    Pass it to :class:`WSGIServer` (``sock=``) in one process or in several
    forked from the one that bound it.

    Args:
        host: the address to bind; an IPv6 address when it holds ``:``.
        port: the port; ``0`` picks a free one.
        backlog: the listen queue length.

    Raises:
        PortInUse: another program listens on ``host:port``.
        OSError: for a host that is not an address of this machine or does
            not resolve (:class:`socket.gaierror`), or a port not allowed.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(host, port) from None
        raise
    sock.listen(backlog)
    return sock


def _gevent_available() -> bool:
    try:
        import gevent  # noqa: F401
    except ImportError:
        return False
    return True


def _monkey_patched() -> bool:
    if "gevent" not in sys.modules:
        return False  # nothing patched what was never imported
    import gevent.monkey

    return bool(gevent.monkey.is_module_patched("socket"))


def _choose_mode(server: str) -> Tuple[str, str]:
    """The concurrency for ``server``, and why, for the start-up line."""
    if server == "auto":
        if _monkey_patched():
            return "gevent", "gevent, monkey-patched"
        why = (
            "gevent is not monkey-patched"
            if _gevent_available()
            else "gevent is not installed"
        )
        return "threading", (
            f"threads, since {why}; server='gevent' is faster for handlers "
            "that never block"
        )
    if server == "gevent":
        try:
            import gevent.monkey
        except ImportError:
            raise ImportError(
                "server='gevent' needs gevent: pip install 'wsocket[gevent]'"
            ) from None
        if gevent.monkey.is_module_patched("socket"):
            return "gevent", "gevent, monkey-patched"
        logger.warning(
            "gevent is not monkey-patched: a handler that blocks (time.sleep, "
            "a database call) blocks every connection. Put "
            "'from gevent import monkey; monkey.patch_all()' first in your "
            "program, or use server='threading'."
        )
        return "gevent", "gevent, not monkey-patched: your handlers must not block"
    if server == "threading":
        return "threading", "threads"
    raise ValueError(f"unknown server {server!r}: use 'auto', 'gevent' or 'threading'")


def import_app(spec: str) -> Callable[..., Any]:
    """Import the WSGI application named by ``"module:attribute"``.

    As gunicorn reads it: ``"package.module:app"``, ``"module:obj.app"``,
    ``"module:create_app()"`` (a factory called without arguments), or
    ``"module"`` alone (its ``app``, else its ``application``). The current
    directory is searched first, as when running ``python -m``.

    Raises:
        AppNotFound: the module, the attribute, or a callable is missing;
            the message says which.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not all(
        part.isidentifier() for part in module_name.split(".")
    ):
        raise AppNotFound(
            f"{spec!r} is not a module path: write 'module:app', as in "
            "'myproject.web:app'"
        )
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise AppNotFound(
                f"cannot import {module_name!r} for {spec!r}: no module "
                f"named {exc.name!r} (run from the directory that holds it, "
                "or check the spelling)"
            ) from exc
        raise
    names = [attribute] if attribute else ["app", "application"]
    for name in names:
        factory = name.endswith("()")
        path = name[:-2] if factory else name
        obj: Any = module
        try:
            for part in path.split("."):
                if not part.isidentifier():
                    raise AppNotFound(f"{spec!r}: {name!r} is not an attribute name")
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if factory:
            obj = obj()
        if not callable(obj):
            raise AppNotFound(
                f"{spec!r} is {type(obj).__name__} object, not a WSGI "
                "application (a callable taking environ and start_response)"
            )
        return obj  # type: ignore[no-any-return]
    raise AppNotFound(
        f"module {module_name!r} (from {getattr(module, '__file__', '?')}) "
        f"has no attribute {' or '.join(repr(n) for n in names)}"
    )


def _with_websockets(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` with :class:`WebSocketMiddleware` unless it has it already."""
    from .middleware import WebSocketMiddleware, handles_websockets

    if handles_websockets(app):
        return app
    return WebSocketMiddleware(app)


def make_server(
    app: Union[str, Callable[..., Any]],
    host: str = "127.0.0.1",
    port: int = 8080,
    server: str = "auto",
    **options: Any,
) -> WSGIServer:
    """Create a bound :class:`WSGIServer` without starting it.

    Args:
        app: the WSGI application, or a ``"module:app"`` string (see
            :func:`import_app`). It is wrapped in
            :class:`~wsocket.middleware.WebSocketMiddleware` unless it
            handles WebSockets already (a middleware, a
            :class:`~wsocket.app.WSocketApp`, or a Flask app whose
            ``wsgi_app`` is a middleware).
        host: address to bind.
        port: port to bind; ``0`` picks a free one.
        server: ``"auto"`` (gevent when gevent's monkey-patching is active,
            threads otherwise), ``"gevent"`` or ``"threading"``.
        **options: passed to :class:`WSGIServer` (``max_connections``...).

    Raises:
        TypeError: ``app`` is not callable.
        AppNotFound: a ``"module:app"`` string that leads nowhere.
        ValueError: for an unknown ``server`` name.
        ImportError: for ``server="gevent"`` without gevent installed.
        PortInUse: another program listens on ``host:port``.
    """
    return _make_server(app, host, port, server, **options)[0]


def _make_server(
    app: Union[str, Callable[..., Any]],
    host: str,
    port: int,
    server: str,
    **options: Any,
) -> Tuple[WSGIServer, str]:
    if isinstance(app, str):
        app = import_app(app)
    if not callable(app):
        raise TypeError(
            f"the app must be a WSGI callable (environ, start_response) or a "
            f"'module:app' string, not {type(app).__name__}"
        )
    concurrency, why = _choose_mode(server)
    srv = WSGIServer(
        _with_websockets(app), host, port, concurrency=concurrency, **options
    )
    return srv, why


def _setup_logging(quiet: bool) -> None:
    """Make wsocket's log visible from a bare script, as run() promises."""
    package = logging.getLogger("wsocket")
    if not quiet and access_logger.level == logging.NOTSET:
        access_logger.setLevel(logging.INFO)
    elif quiet and access_logger.level == logging.NOTSET:
        access_logger.setLevel(logging.WARNING)
    if package.handlers or logging.getLogger().handlers:
        return  # the program configured logging itself
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    package.addHandler(handler)


def run(
    app: Union[str, Callable[..., Any]],
    host: str = "127.0.0.1",
    port: int = 8080,
    server: str = "auto",
    *,
    grace: float = 5.0,
    quiet: bool = False,
    **options: Any,
) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM.

    ``server="auto"`` (the default) runs on gevent when gevent's
    monkey-patching is already active, and on threads otherwise, so that a
    handler that blocks (``time.sleep``, a database call) never stalls the
    other clients. ``server="gevent"`` without monkey-patching is the fast
    mode for handlers that never block. The start-up line says which mode
    runs and why.

    On stop, the server stops accepting, closes open WebSockets with 1001
    (going away), and returns within ``grace`` seconds.

    Args:
        app: the WSGI application or a ``"module:app"`` string; wrapped in
            :class:`~wsocket.middleware.WebSocketMiddleware` when it does
            not handle WebSockets itself (see :func:`make_server`).
        host: address to bind; ``127.0.0.1`` by default (use ``0.0.0.0`` to
            listen on every interface).
        port: port to bind; ``0`` picks a free one, which is printed.
        server: ``"auto"``, ``"gevent"`` or ``"threading"``.
        grace: seconds allowed for open connections to finish at stop.
        quiet: print neither the listening address nor the access log (one
            line per request on the ``wsocket.access`` logger).
        **options: passed to :class:`WSGIServer`.

    Raises:
        SystemExit: with a one-line message when the port is in use.
        TypeError: ``app`` is not callable.
        AppNotFound: a ``"module:app"`` string that leads nowhere.
    """
    import signal

    # The signals are caught from before the port is bound: whoever sees it
    # open (a process manager, a test) may send SIGTERM at once, and the
    # default action would kill the process instead of stopping it.
    servers: List[WSGIServer] = []
    asked: List[int] = []

    def on_stop_signal(signum: int, frame: Any) -> None:
        # No exception: raised between accept() and the start of the
        # connection's thread, it would leave a connection counted that no
        # thread serves, and stop() would wait for it until grace ran out.
        asked.append(signum)
        if servers:
            servers[0]._stop_accepting()

    # SIGTERM and Ctrl-C stop the server the same way; a second Ctrl-C
    # during the grace period interrupts stop() itself. Only the main thread
    # may set handlers: run() elsewhere leaves the signals alone.
    previous: Dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_stop_signal)
    try:
        try:
            srv, why = _make_server(app, host, port, server, **options)
        except PortInUse as exc:
            raise SystemExit(f"wsocket: {exc}") from None
        servers.append(srv)
        _setup_logging(quiet)
        if not quiet:
            print(
                f"wsocket serving on {srv.url} ({why}); Ctrl-C to stop",
                file=sys.stderr,
                flush=True,
            )
        if srv.concurrency == "gevent":
            _serve_gevent(srv, grace, asked)
            return
        if asked:
            srv._stop_accepting()
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            if signal.SIGINT in previous:
                signal.signal(signal.SIGINT, previous.pop(signal.SIGINT))
            srv.stop(grace)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _serve_gevent(srv: WSGIServer, grace: float, asked: List[int]) -> None:
    """:func:`run` on gevent: signals stop the server from a greenlet."""
    import signal

    import gevent

    stopping: List[Any] = []

    def on_signal() -> None:
        if not stopping:
            stopping.append(gevent.spawn(srv.stop, grace))

    handlers = [
        gevent.signal_handler(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
    ]
    if asked:
        # A signal came before these handlers were in place.
        on_signal()
    try:
        srv.serve_forever()
    finally:
        for handler in handlers:
            handler.cancel()
        if stopping:
            stopping[0].join(grace + 1)
