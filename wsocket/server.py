"""wsocket's own HTTP/1.1 WSGI server, the one behind :func:`wsocket.run`.

It serves each connection in a thread, or in a greenlet when given gevent
sockets (``concurrency="gevent"``), and exposes the connection to the
WebSocket middleware through ``environ["wsocket.take_over"]``.

What it does: HTTP/1.1 keep-alive and pipelining-safe request parsing,
``Content-Length`` and chunked request bodies, ``Expect: 100-continue``,
chunked responses when the length is unknown, TCP_NODELAY and one write for
the head and the first chunk of the body, no reverse DNS lookups, a cap on
open connections (503 beyond it), timeouts on idle and slow clients, and a
graceful stop that closes open WebSockets with 1001.

What it does not: TLS (put a reverse proxy in front), HTTP/2.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from http import HTTPStatus
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from . import registry

__all__ = ["WSGIServer", "make_server", "run"]

logger = logging.getLogger("wsocket.server")

MAX_HEAD = 64 * 1024
MAX_HEADERS = 100

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_HOP_BY_HOP = frozenset(("connection", "keep-alive", "transfer-encoding"))


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Input:
    """``wsgi.input``: the request body, bounded by its length or chunking."""

    def __init__(self, conn: _Connection, length: Optional[int], chunked: bool) -> None:
        self._conn = conn
        self._remaining = length if length is not None else 0
        self._chunked = chunked
        self._chunk_left = 0
        self._done = not chunked and not self._remaining
        self._continue: Optional[bytes] = None

    def _fill(self) -> bool:
        """Make body bytes available in the connection buffer; False at the end."""
        if self._done:
            return False
        if self._continue is not None:
            self._conn.sock.sendall(self._continue)
            self._continue = None
        conn = self._conn
        if not self._chunked:
            if not conn.buf:
                conn.read_more()
            return True
        if self._chunk_left == 0:
            line = conn.read_line(4096)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size") from None
            if size < 0:
                raise _BadRequest(400, "bad chunk size")
            if size == 0:
                # Trailers, up to the empty line.
                while conn.read_line(8192).strip():
                    pass
                self._done = True
                return False
            self._chunk_left = size
        if not conn.buf:
            conn.read_more()
        return True

    def _take(self, n: int) -> bytes:
        conn = self._conn
        limit = self._chunk_left if self._chunked else self._remaining
        n = min(n, limit, len(conn.buf))
        data = bytes(conn.buf[:n])
        del conn.buf[:n]
        if self._chunked:
            self._chunk_left -= n
            if self._chunk_left == 0:
                conn.read_line(2)  # CRLF after the chunk
        else:
            self._remaining -= n
            if self._remaining == 0:
                self._done = True
        return data

    def read(self, size: int = -1) -> bytes:
        parts = []
        want = size if size is not None and size >= 0 else sys.maxsize
        while want > 0 and self._fill():
            data = self._take(want)
            parts.append(data)
            want -= len(data)
        return b"".join(parts)

    def readline(self, size: int = -1) -> bytes:
        parts = []
        want = size if size is not None and size >= 0 else sys.maxsize
        while want > 0 and self._fill():
            buf = self._conn.buf
            limit = self._chunk_left if self._chunked else self._remaining
            nl = buf.find(b"\n", 0, min(limit, len(buf)))
            take = nl + 1 if nl >= 0 else len(buf)
            data = self._take(min(take, want))
            parts.append(data)
            want -= len(data)
            if data.endswith(b"\n"):
                break
        return b"".join(parts)

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
        while self._fill():
            self._take(65536)


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


class _Connection:
    """One client connection: reads requests, runs the app, writes responses."""

    def __init__(self, server: WSGIServer, sock: Any, addr: Any) -> None:
        self.server = server
        self.sock = sock
        self.addr = addr
        self.buf = bytearray()
        self.taken = False
        self.idle = True

    def read_more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def read_line(self, limit: int) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > limit:
                raise _BadRequest(400, "line too long")
            self.read_more()

    def serve(self) -> None:
        server = self.server
        sock = self.sock
        try:
            while not server.stopping:
                sock.settimeout(
                    server.keepalive_timeout if self.buf == b"" else server.timeout
                )
                self.idle = True
                try:
                    head = self._read_head()
                except (EOFError, socket.timeout, ConnectionError):
                    return
                if head is None:
                    return
                self.idle = False
                sock.settimeout(server.timeout)
                if not self._handle(head) or self.taken:
                    return
        except _BadRequest as exc:
            self._simple_response(exc.status, exc.reason)
        except (ConnectionError, socket.timeout, EOFError, OSError):
            pass
        finally:
            if not self.taken:
                try:
                    sock.close()
                except OSError:  # pragma: no cover
                    pass

    def _read_head(self) -> Optional[bytes]:
        buf = self.buf
        start = 0
        while True:
            # Ignore empty lines before a request (RFC 7230 3.5).
            while buf[:2] == b"\r\n":
                del buf[:2]
            end = buf.find(b"\r\n\r\n", start)
            if end >= 0:
                head = bytes(buf[:end])
                del buf[: end + 4]
                return head
            if len(buf) > MAX_HEAD:
                raise _BadRequest(431, "request head too large")
            start = max(0, len(buf) - 3)
            data = self.sock.recv(65536)
            if not data:
                if buf:
                    raise _BadRequest(400, "incomplete request head")
                return None
            buf += data

    def _environ(self, head: bytes) -> Tuple[Dict[str, Any], bool, bool]:
        lines = head.split(b"\r\n")
        try:
            method, target, version = lines[0].decode("latin-1").split(" ")
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        if not version.startswith("HTTP/1."):
            raise _BadRequest(505, "only HTTP/1.x is supported")
        if len(lines) > MAX_HEADERS + 1:
            raise _BadRequest(431, "too many headers")
        path, _, query = target.partition("?")
        if path.startswith(("http://", "https://")):
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        server = self.server
        environ: Dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _unquote_path(path),
            "QUERY_STRING": query,
            "SERVER_NAME": server.host,
            "SERVER_PORT": str(server.port),
            "SERVER_PROTOCOL": version,
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
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not name or name != name.strip() or " " in name:
                raise _BadRequest(400, "malformed header line")
            value = value.strip(" \t")
            key = name.upper().replace("-", "_")
            if "_" in name:
                continue  # "X_Foo" would pass for "X-Foo": drop ambiguous names
            if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
                environ[key] = value
                continue
            key = "HTTP_" + key
            if key in environ:
                environ[key] += "," + value
            else:
                environ[key] = value
        connection = environ.get("HTTP_CONNECTION", "").lower()
        if version == "HTTP/1.0":
            keep_alive = "keep-alive" in connection
        else:
            keep_alive = "close" not in connection
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length: Optional[int] = None
        if "CONTENT_LENGTH" in environ and not chunked:
            try:
                length = int(environ["CONTENT_LENGTH"])
            except ValueError:
                raise _BadRequest(400, "bad Content-Length") from None
            if length < 0:
                raise _BadRequest(400, "bad Content-Length")
        body = _Input(self, length, chunked)
        if environ.get("HTTP_EXPECT", "").lower() == "100-continue":
            body._continue = b"HTTP/1.1 100 Continue\r\n\r\n"
        environ["wsgi.input"] = body
        # The body reader returns b"" at its end, chunked or not.
        environ["wsgi.input_terminated"] = True
        environ["wsgi.file_wrapper"] = _FileWrapper
        if "HTTP_UPGRADE" in environ:
            environ["wsocket.take_over"] = self._take_over
        return environ, keep_alive, method == "HEAD"

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

    def _handle(self, head: bytes) -> bool:
        environ, keep_alive, is_head = self._environ(head)
        state: Dict[str, Any] = {"status": None, "headers": None, "sent": False}
        conn = self

        def start_response(
            status: str, headers: List[Tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None:
                try:
                    if state["sent"]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state["status"] is not None:
                raise AssertionError("start_response() called twice without exc_info")
            state["status"] = status
            state["headers"] = headers
            return write

        chunked = False

        def write(data: bytes) -> None:
            nonlocal chunked, keep_alive
            if conn.taken:
                return
            if not state["sent"]:
                head_bytes, chunked, keep_alive = _response_head(
                    state["status"],
                    state["headers"],
                    environ,
                    keep_alive,
                    is_head,
                    len(data) if out_done[0] else None,
                )
                state["sent"] = True
                if is_head:
                    conn.sock.sendall(head_bytes)
                    return
                if chunked and data:
                    conn.sock.sendall(
                        head_bytes + b"%x\r\n" % len(data) + data + b"\r\n"
                    )
                else:
                    conn.sock.sendall(head_bytes + data)
                return
            if is_head or not data:
                return
            if chunked:
                conn.sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
            else:
                conn.sock.sendall(data)

        out_done = [False]
        try:
            result = self.server.app(environ, start_response)
        except Exception:
            logger.exception("error in WSGI application for %s", environ["PATH_INFO"])
            if self.taken:
                return False
            self._simple_response(500, "Internal Server Error", keep_alive=False)
            return False
        try:
            if self.taken:
                return False
            if state["status"] is None and not isinstance(result, (list, tuple)):
                # Let a generator run up to its start_response() call.
                iterator = iter(result)
                first = next(iterator, None)
                body: Iterable[bytes] = [first] if first is not None else []
                rest: Iterable[bytes] = iterator
            else:
                body = result
                rest = ()
            if state["status"] is None:
                raise RuntimeError("the WSGI application did not call start_response()")
            if (
                isinstance(result, _FileWrapper)
                and not is_head
                and self._sendfile(result, state["headers"], write)
            ):
                return keep_alive
            if isinstance(body, (list, tuple)) and len(body) <= 1 and not rest:
                out_done[0] = True
                write(body[0] if body else b"")
            else:
                for chunk in body:
                    write(chunk)
                for chunk in rest:
                    write(chunk)
            if not state["sent"]:
                out_done[0] = True
                write(b"")
            elif chunked and not is_head:
                self.sock.sendall(b"0\r\n\r\n")
        except Exception:
            logger.exception("error in WSGI application for %s", environ["PATH_INFO"])
            if not state["sent"] and not self.taken:
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
        if keep_alive:
            try:
                environ["wsgi.input"].drain()
            except _BadRequest:
                return False
        return keep_alive

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
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        ).encode("latin-1")
        try:
            self.sock.sendall(head + body)
        except OSError:
            pass


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


class WSGIServer:
    """Serve a WSGI app on a TCP socket with threads or gevent greenlets.

    Args:
        app: the WSGI application.
        host: the address to bind; ``127.0.0.1`` by default.
        port: the port; ``0`` picks a free one (see :attr:`port`).
        concurrency: ``"threading"`` or ``"gevent"``.
        max_connections: open connections allowed; beyond, clients get 503.
        timeout: seconds a client may take to send a request once started.
        keepalive_timeout: seconds an idle keep-alive connection is kept.
        backlog: the listen queue length.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        concurrency: str = "threading",
        max_connections: int = 1000,
        timeout: float = 30.0,
        keepalive_timeout: float = 15.0,
        backlog: int = 1024,
    ) -> None:
        if concurrency not in ("threading", "gevent"):
            raise ValueError("concurrency must be 'threading' or 'gevent'")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.app = app
        self.host = host
        self.concurrency = concurrency
        self.max_connections = max_connections
        self.timeout = timeout
        self.keepalive_timeout = keepalive_timeout
        self._stopping = threading.Event()
        self._active = 0
        self._count_lock = threading.Lock()
        self._connections: Set[_Connection] = set()
        if concurrency == "gevent":
            from gevent import socket as gsocket

            self._socket_mod: Any = gsocket
        else:
            self._socket_mod = socket
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = self._socket_mod.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.listen(backlog)
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
        spawn = self._spawner()
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
            self._stopped.set()

    def _spawner(self) -> Callable[..., None]:
        if self.concurrency == "gevent":
            import gevent

            def spawn_greenlet(func: Callable[..., None], *args: Any) -> None:
                gevent.spawn(func, *args)

            return spawn_greenlet

        def spawn_thread(func: Callable[..., None], *args: Any) -> None:
            threading.Thread(target=func, args=args, daemon=True).start()

        return spawn_thread

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

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, close open WebSockets with 1001, return within ``grace`` s.

        Idle keep-alive connections are closed at once. Every open WebSocket
        gets a 1001 Close after the frame it is sending, as soon as its
        socket can take it, so that a connected client learns at once that
        it should reconnect. Whatever is still open when ``grace`` runs out
        (a client that does not read, a slow HTTP response) is aborted.
        """
        self._stopping.set()
        try:
            # shutdown() wakes a thread blocked in accept(); close() alone does not.
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
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


def _gevent_available() -> bool:
    try:
        import gevent  # noqa: F401
    except ImportError:
        return False
    return True


def _monkey_patched() -> bool:
    import gevent.monkey

    return bool(gevent.monkey.is_module_patched("socket"))


def make_server(
    app: Callable[..., Any],
    host: str = "127.0.0.1",
    port: int = 8080,
    server: str = "auto",
    **options: Any,
) -> WSGIServer:
    """Create a bound :class:`WSGIServer` without starting it.

    Args:
        app: the WSGI application (wrap it in
            :class:`~wsocket.middleware.WebSocketMiddleware` for WebSockets).
        host: address to bind.
        port: port to bind; ``0`` picks a free one.
        server: ``"auto"`` (gevent when installed, else threads),
            ``"gevent"`` or ``"threading"``.
        **options: passed to :class:`WSGIServer` (``max_connections``...).

    Raises:
        ValueError: for an unknown ``server`` name.
        ImportError: for ``server="gevent"`` without gevent installed.
    """
    explicit = server == "gevent"
    if server == "auto":
        server = "gevent" if _gevent_available() else "threading"
    if server not in ("gevent", "threading"):
        raise ValueError(
            f"unknown server {server!r}: use 'auto', 'gevent' or 'threading'"
        )
    if server == "gevent":
        try:
            import gevent.monkey
        except ImportError:
            raise ImportError(
                "server='gevent' needs gevent: pip install 'wsocket[gevent]'"
            ) from None
        if explicit and not gevent.monkey.is_module_patched("socket"):
            logger.warning(
                "gevent is not monkey-patched: a handler that blocks (time.sleep, "
                "a database call) blocks every connection. Put "
                "'from gevent import monkey; monkey.patch_all()' first in your "
                "program, or use server='threading'."
            )
    return WSGIServer(app, host, port, concurrency=server, **options)


def run(
    app: Callable[..., Any],
    host: str = "127.0.0.1",
    port: int = 8080,
    server: str = "auto",
    *,
    grace: float = 5.0,
    quiet: bool = False,
    **options: Any,
) -> None:
    """Serve ``app`` until Ctrl-C or SIGTERM.

    On stop, the server stops accepting, closes open WebSockets with 1001
    (going away), and returns within ``grace`` seconds.

    Args:
        app: the WSGI application.
        host: address to bind; ``127.0.0.1`` by default (use ``0.0.0.0`` to
            listen on every interface).
        port: port to bind; ``0`` picks a free one, which is printed.
        server: ``"auto"``, ``"gevent"`` or ``"threading"``.
        grace: seconds allowed for open connections to finish at stop.
        quiet: do not print the listening address.
        **options: passed to :class:`WSGIServer`.
    """
    import signal

    srv = make_server(app, host, port, server, **options)
    if not quiet:
        mode = srv.concurrency
        if mode == "gevent" and not _monkey_patched():
            mode += ", not monkey-patched: a blocking handler blocks every connection"
        print(
            f"wsocket serving on {srv.url} ({mode}); Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
    if srv.concurrency == "gevent":
        import gevent

        stopping: List[Any] = []

        def on_signal() -> None:
            if not stopping:
                stopping.append(gevent.spawn(srv.stop, grace))

        handlers = [
            gevent.signal_handler(sig, on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT)
        ]
        try:
            srv.serve_forever()
        finally:
            for handler in handlers:
                handler.cancel()
            if stopping:
                stopping[0].join(grace + 1)
        return

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        srv.stop(grace)
