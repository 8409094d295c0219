"""Utilities shared by the I/O tests: time, polling, raw frames and servers.

Nothing here imports pytest, so that ``gevent_echo_server.py`` can reuse the
connection logic in a monkey-patched subprocess.

Time is expressed in :data:`MS`, one millisecond scaled by the environment
variable ``WSOCKET_TEST_TIMEOUT_FACTOR`` (set it to 5 on a slow machine).
Tests wait for conditions with :func:`wait_for`, never with bare sleeps.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

from wsocket.connection import WebSocket
from wsocket.deflate import DeflateOptions
from wsocket.exceptions import HandshakeError
from wsocket.handshake import reject_response, server_handshake
from wsocket.protocol import CLIENT, SERVER, Protocol

TIMEOUT_FACTOR = float(os.environ.get("WSOCKET_TEST_TIMEOUT_FACTOR", "1"))

#: One millisecond, scaled for slow machines.
MS = 0.001 * TIMEOUT_FACTOR

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(TESTS_DIR)

#: Security limit of the test server: the largest request head it reads.
MAX_REQUEST_HEAD = 64 * 1024

#: The permessage-deflate settings the test servers accept by default.
DEFAULT_COMPRESSION = DeflateOptions()

#: Key of the environ entry where the test server stores its 101 headers.
RESPONSE_HEADERS_KEY = "wsocket.test.response_headers"


def example_count(count: int) -> int:
    """``count`` hypothesis examples, scaled to the profile in use.

    The full run (profile ``full``) gives ``count``; the fast lane's
    profile, ``fast``, a fifth of it (tests/conftest.py).
    """
    from hypothesis import settings

    return max(10, count * settings.default.max_examples // 100)


# -- Waiting ------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 5000 * MS,
    interval: float = 2 * MS,
    message: str = "",
) -> Any:
    """Poll ``predicate`` until it returns a true value, and return that value.

    Raises:
        AssertionError: if it is still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(
                message or f"condition not met within {timeout:.3g}s: {predicate!r}"
            )
        time.sleep(min(interval, remaining))


class Background:
    """Run ``func(*args, **kwargs)`` in a daemon thread.

    :meth:`result` joins it with a deadline and returns its value or re-raises
    its exception, so that a failure in the thread fails the test.
    """

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(
            target=self._run, args=(func, args, kwargs), daemon=True
        )
        self._thread.start()

    def _run(self, func: Callable[..., Any], args: Any, kwargs: Any) -> None:
        try:
            self._value = func(*args, **kwargs)
        except BaseException as exc:  # handed to the test by result()
            self._error = exc

    def done(self) -> bool:
        """Tell whether the function returned or raised."""
        return not self._thread.is_alive()

    def result(self, timeout: float = 5000 * MS) -> Any:
        """Wait at most ``timeout`` seconds for the function and return its value."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"background call still running after {timeout:.3g}s")
        if self._error is not None:
            raise self._error
        return self._value


# -- File descriptors ---------------------------------------------------------


def open_fds() -> dict[int, str]:
    """Return this process's open file descriptors and what they point to."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the directory's own descriptor, already closed
            pass
    return fds


class FdTracker:
    """Check that the descriptors open at the start are all that remain open.

    Sockets are closed by background threads too, so :meth:`check` waits a
    little for the count to come back down before it fails.
    """

    def __init__(self) -> None:
        self.before = open_fds()

    def leaked(self) -> dict[int, str]:
        # Some libraries leave sockets and selectors in reference cycles
        # (the websockets server's poller): collect them first, the young
        # generations (cheap, and where a test's garbage mostly is), then
        # all of them if descriptors are still open.
        gc.collect(1)
        leaked = self._new()
        if leaked:
            gc.collect()
            leaked = self._new()
        return leaked

    def _new(self) -> dict[int, str]:
        now = open_fds()
        return {fd: target for fd, target in now.items() if fd not in self.before}

    def check(self, timeout: float = 2000 * MS) -> None:
        # A full collection costs tens of milliseconds in a process that
        # imported the whole suite: look first, and collect only while
        # descriptors are still open (every 100 ms, and at the end).
        deadline = time.monotonic() + timeout
        polls = 0
        while self._new():
            if polls % 5 == 0 and not self.leaked():
                return
            if time.monotonic() >= deadline:
                if self.leaked():
                    raise AssertionError(f"file descriptors leaked: {self.leaked()}")
                return
            polls += 1
            time.sleep(20 * MS)


def fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


# -- Sockets ------------------------------------------------------------------


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Return two connected TCP sockets on the loopback interface."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
    client.settimeout(None)
    for sock in (client, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server, client


def socket_pair(transport: str) -> tuple[socket.socket, socket.socket]:
    """Return ``(server_side, client_side)`` for "socketpair" or "tcp"."""
    if transport == "socketpair":
        return socket.socketpair()
    if transport == "tcp":
        return tcp_pair()
    raise ValueError(transport)


def ws_pair(
    transport: str = "socketpair",
    *,
    server: Optional[dict[str, Any]] = None,
    client: Optional[dict[str, Any]] = None,
    max_message_size: Optional[int] = 2**20,
) -> tuple[WebSocket, WebSocket]:
    """Return a server and a client :class:`WebSocket` connected to each other.

    ``server`` and ``client`` are extra keyword arguments for each side.
    """
    server_sock, client_sock = socket_pair(transport)
    server_ws = WebSocket(
        server_sock,
        Protocol(SERVER, max_message_size=max_message_size),
        **(server or {}),
    )
    client_ws = WebSocket(
        client_sock,
        Protocol(CLIENT, max_message_size=max_message_size),
        **(client or {}),
    )
    return server_ws, client_ws


# -- Raw frames, written from RFC 6455 section 5.2 ----------------------------


def mask_bytes(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 section 5.3)."""
    n = len(data)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    value = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(n, "big")


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length: Optional[int] = None,
) -> bytes:
    """Build one frame. ``length`` overrides the announced payload length."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mask_bit | n])
    elif n < 65536:
        head = bytes([b0, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask:
        key = os.urandom(4)
        return head + key + mask_bytes(payload, key)
    return head + payload


def close_payload(code: Optional[int] = None, reason: str = "") -> bytes:
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason.encode("utf-8")


@dataclass
class RawFrame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> Optional[int]:
        assert self.opcode == 0x8, self
        if len(self.payload) < 2:
            return None
        return int.from_bytes(self.payload[:2], "big")

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8")


class RawPeer:
    """A WebSocket peer that writes and reads frames by hand.

    It masks what it sends by default (the client role). It answers nothing by
    itself: tests decide what it does with each frame.
    """

    def __init__(self, sock: socket.socket, *, mask: bool = True) -> None:
        self.sock = sock
        self.mask = mask
        self._buffer = bytearray()

    def send_frame(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> None:
        kwargs.setdefault("mask", self.mask)
        self.sock.sendall(encode_frame(opcode, payload, **kwargs))

    def send_close(self, code: Optional[int] = 1000, reason: str = "") -> None:
        self.send_frame(0x8, close_payload(code, reason))

    def _read_exact(self, n: int, deadline: float) -> Optional[bytes]:
        while len(self._buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("raw peer: timed out reading a frame")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            except socket.timeout:
                raise TimeoutError("raw peer: timed out reading a frame") from None
            if not chunk:
                if self._buffer:
                    raise EOFError("raw peer: EOF in the middle of a frame")
                return None
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def read_frame(self, timeout: float = 5000 * MS) -> Optional[RawFrame]:
        """Return the next frame, or ``None`` at EOF."""
        deadline = time.monotonic() + timeout
        head = self._read_exact(2, deadline)
        if head is None:
            return None
        b0, b1 = head
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._must_read(2, deadline), "big")
        elif n == 127:
            n = int.from_bytes(self._must_read(8, deadline), "big")
        key = self._must_read(4, deadline) if b1 & 0x80 else None
        payload = self._must_read(n, deadline) if n else b""
        if key is not None:
            payload = mask_bytes(payload, key)
        return RawFrame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload)

    def _must_read(self, n: int, deadline: float) -> bytes:
        data = self._read_exact(n, deadline)
        if data is None:
            raise EOFError("raw peer: EOF in the middle of a frame")
        return data

    def read_until(
        self, accept: Callable[[RawFrame], bool], timeout: float = 5000 * MS
    ) -> RawFrame:
        """Skip frames until one satisfies ``accept``; fail at EOF or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.read_frame(max(0.0, deadline - time.monotonic()))
            if frame is None:
                raise EOFError("raw peer: EOF before the expected frame")
            if accept(frame):
                return frame

    def read_eof(self, timeout: float = 5000 * MS) -> list[RawFrame]:
        """Read frames until EOF and return them."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            frame = self.read_frame(max(0.0, deadline - time.monotonic()))
            if frame is None:
                return frames
            frames.append(frame)

    def close(self) -> None:
        self.sock.close()


# -- A minimal HTTP/1.1 upgrade server ----------------------------------------


def read_request_head(
    sock: socket.socket, timeout: float, limit: int = MAX_REQUEST_HEAD
) -> tuple[bytes, bytes]:
    """Read an HTTP request head; return it and the bytes read past it.

    Raises:
        HandshakeError: at EOF before the head ended, or beyond ``limit``.
        TimeoutError: if the head did not arrive within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    buffer = bytearray()
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(buffer[:end]), bytes(buffer[end + 4 :])
        if len(buffer) > limit:
            raise HandshakeError("request head too large", 431)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out reading the request head")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            raise TimeoutError("timed out reading the request head") from None
        if not chunk:
            raise HandshakeError("connection closed during the request head", 400)
        buffer += chunk


def build_environ(
    head: bytes,
    *,
    server_addr: tuple[Any, ...] = ("127.0.0.1", 0),
    client_addr: tuple[Any, ...] = ("127.0.0.1", 0),
    url_scheme: str = "http",
) -> dict[str, Any]:
    """Turn a request head into a minimal PEP 3333 environ.

    Repeated header fields are joined with ``", "`` as WSGI servers do.
    """
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise HandshakeError("malformed request line", 400) from None
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote(path, encoding="latin-1"),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": version,
        "SERVER_NAME": str(server_addr[0]),
        "SERVER_PORT": str(server_addr[1]),
        "REMOTE_ADDR": str(client_addr[0]),
        "wsgi.url_scheme": url_scheme,
    }
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or "_" in name:
            raise HandshakeError("malformed header line", 400)
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = value.strip(" \t")
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ


def format_response(status: str, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def linger_close(sock: socket.socket, timeout: float = 1000 * MS) -> None:
    """Half-close, read what the peer still sends until EOF or timeout, close.

    Closing with unread input would reset the connection and could destroy
    the response before the peer read it.
    """
    deadline = time.monotonic() + timeout
    try:
        sock.shutdown(socket.SHUT_WR)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            if not sock.recv(65536):
                break
    except OSError:
        pass
    finally:
        sock.close()


@dataclass
class ServerOptions:
    """How the test servers accept connections; see :class:`ServerThread`."""

    subprotocols: Sequence[str] = ()
    compression: Optional[DeflateOptions] = DEFAULT_COMPRESSION
    origins: Optional[Sequence[Optional[str]]] = None
    reject: Optional[Callable[[dict[str, Any]], Optional[HandshakeError]]] = None
    max_message_size: Optional[int] = 2**20
    ping_interval: Optional[float] = None
    ping_timeout: Optional[float] = None
    close_timeout: float = 5.0
    handshake_timeout: float = 5.0
    url_scheme: str = "http"


def accept_websocket(
    sock: socket.socket,
    options: ServerOptions,
    *,
    server_addr: tuple[Any, ...] = ("127.0.0.1", 0),
    client_addr: tuple[Any, ...] = ("127.0.0.1", 0),
    rejected: Optional[list[HandshakeError]] = None,
) -> Optional[WebSocket]:
    """Read the upgrade request on ``sock`` and answer it.

    Returns the open :class:`WebSocket`, or ``None`` after writing an error
    response (and closing ``sock``). The environ of the request is
    ``ws.environ``; the 101 response headers are in
    ``ws.environ[RESPONSE_HEADERS_KEY]``.
    """
    try:
        head, extra = read_request_head(sock, options.handshake_timeout)
        environ = build_environ(
            head,
            server_addr=server_addr,
            client_addr=client_addr,
            url_scheme=options.url_scheme,
        )
        error = options.reject(environ) if options.reject is not None else None
        if error is not None:
            raise error
        accepted = server_handshake(
            environ,
            subprotocols=options.subprotocols,
            compression=options.compression,
            origins=options.origins,
        )
    except HandshakeError as exc:
        if rejected is not None:
            rejected.append(exc)
        status, headers, body = reject_response(exc)
        try:
            sock.sendall(format_response(status, headers) + body)
        except OSError:
            pass
        linger_close(sock)
        return None
    sock.sendall(format_response("101 Switching Protocols", accepted.headers))
    sock.settimeout(None)
    environ[RESPONSE_HEADERS_KEY] = accepted.headers
    protocol = Protocol(
        SERVER, max_message_size=options.max_message_size, deflate=accepted.deflate
    )
    return WebSocket(
        sock,
        protocol,
        environ=environ,
        subprotocol=accepted.subprotocol,
        ping_interval=options.ping_interval,
        ping_timeout=options.ping_timeout,
        close_timeout=options.close_timeout,
        extra=extra,
    )


def echo(ws: WebSocket) -> None:
    """Send every message back until the connection closes."""
    while True:
        message = ws.receive()
        if message is None:
            return
        ws.send(message)


class ServerThread:
    """A small threaded WebSocket test server on 127.0.0.1, on a free port.

    Each connection is served in its own thread (or greenlet with
    ``use_gevent=True``): the upgrade request is read and handed to
    :func:`wsocket.handshake.server_handshake`, then ``handler(ws)`` runs.
    When the handler returns, the connection is closed (1000), or with 1011
    if it raised; its exception is kept in :attr:`errors`, and leaving the
    ``with`` block fails if any was recorded (``check=False`` disables it).

    With ``use_gevent=True`` the server runs in one thread of its own with
    its own gevent hub and ``gevent.server.StreamServer``, without
    monkey-patching anything: connections get gevent sockets.

    Attributes:
        port: the port it listens on.
        url: ``ws://127.0.0.1:<port>`` (``wss://`` with ``ssl_context``).
        websockets: every accepted connection, in order.
        rejected: every :class:`HandshakeError` answered with an error.
        errors: exceptions raised by handlers (and by the server itself).
    """

    def __init__(
        self,
        handler: Callable[[WebSocket], Any] = echo,
        *,
        subprotocols: Sequence[str] = (),
        compression: Optional[DeflateOptions] = DEFAULT_COMPRESSION,
        max_message_size: Optional[int] = 2**20,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = None,
        close_timeout: float = 5.0,
        origins: Optional[Sequence[Optional[str]]] = None,
        reject: Optional[Callable[[dict[str, Any]], Optional[HandshakeError]]] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        use_gevent: bool = False,
        check: bool = True,
        grace: float = 5000 * MS,
    ) -> None:
        self.handler = handler
        self.options = ServerOptions(
            subprotocols=subprotocols,
            compression=compression,
            origins=origins,
            reject=reject,
            max_message_size=max_message_size,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            url_scheme="https" if ssl_context is not None else "http",
        )
        self.ssl_context = ssl_context
        self.use_gevent = use_gevent
        self.check = check
        self.grace = grace
        self.websockets: list[WebSocket] = []
        self.rejected: list[HandshakeError] = []
        self.errors: list[BaseException] = []
        self.finished = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._started = False
        self._stopped = False
        self.port = 0

    # -- lifecycle --

    def start(self) -> ServerThread:
        assert not self._started
        self._started = True
        if self.use_gevent:
            ready = threading.Event()
            self._main = threading.Thread(
                target=self._gevent_main, args=(ready,), daemon=True
            )
            self._main.start()
            if not ready.wait(10000 * MS) or not self.port:
                raise RuntimeError("the gevent test server did not start")
        else:
            self._listener = socket.create_server(("127.0.0.1", 0))
            self._wake_r, self._wake_w = socket.socketpair()
            self.port = self._listener.getsockname()[1]
            self._main = threading.Thread(target=self._accept_loop, daemon=True)
            self._main.start()
        return self

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()
        if exc_type is None and self.check and self.errors:
            first = self.errors[0]
            raise AssertionError(
                f"{len(self.errors)} error(s) in the test server: {self.errors!r}"
            ) from first

    def wait_finished(self, count: int = 1, timeout: float = 5000 * MS) -> None:
        """Wait until ``count`` handlers have returned (or raised)."""
        wait_for(
            lambda: self.finished >= count,
            timeout,
            message=f"{count} handler(s) expected to finish, {self.finished} did",
        )

    def stop(self) -> None:
        """Stop accepting, let handlers finish, abort what is left, join all."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        self._stopping = True
        if self.use_gevent:
            request_stop = getattr(self, "_gevent_request_stop", None)
            if request_stop is not None:
                request_stop()
            self._main.join(self.grace + 10000 * MS)
            if self._main.is_alive():
                self.errors.append(
                    RuntimeError("the gevent server thread did not stop")
                )
            return
        self._wake_w.send(b"x")
        self._main.join(5000 * MS)
        if self._main.is_alive():
            self.errors.append(RuntimeError("the accept thread did not stop"))
        self._join_handlers(self.grace)
        with self._lock:
            leftovers = [ws for ws in self.websockets if not ws._socket_closed]
        for ws in leftovers:
            ws.abort()
        still = self._join_handlers(5000 * MS)
        if still:
            self.errors.append(RuntimeError(f"{still} connection thread(s) stuck"))
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def _join_handlers(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in threads)

    # -- threads --

    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        sock, addr = self._listener.accept()
                    except OSError:  # pragma: no cover - the client gave up
                        continue
                    thread = threading.Thread(
                        target=self._serve, args=(sock, addr), daemon=True
                    )
                    with self._lock:
                        self._threads.append(thread)
                    thread.start()
        finally:
            selector.close()

    def _serve(self, sock: socket.socket, addr: tuple[Any, ...]) -> None:
        ws = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                )
                sock.settimeout(self.options.handshake_timeout)
                try:
                    sock.do_handshake()
                except (OSError, ssl.SSLError):
                    sock.close()
                    return
            try:
                ws = accept_websocket(
                    sock,
                    self.options,
                    server_addr=("127.0.0.1", self.port),
                    client_addr=addr,
                    rejected=self.rejected,
                )
            except (OSError, TimeoutError):
                # The client went away during the handshake: not a handler
                # error, and tests that care look at the client side.
                sock.close()
                return
            if ws is None:
                return
            with self._lock:
                self.websockets.append(ws)
                stopping = self._stopping
            if stopping:
                ws.abort()
                return
            try:
                self.handler(ws)
            except BaseException as exc:
                self.errors.append(exc)
                ws.close(1011)
            else:
                ws.close()
        except BaseException as exc:  # a bug in this server
            self.errors.append(exc)
            if ws is not None:
                ws.abort()
            sock.close()
        finally:
            with self._lock:
                self.finished += 1

    # -- gevent --

    def _gevent_main(self, ready: threading.Event) -> None:
        import gevent
        import gevent.event
        import gevent.server

        hub = gevent.get_hub()
        stop = gevent.event.Event()
        greenlets: list[Any] = []

        def handle(sock: Any, addr: Any) -> None:
            greenlets.append(gevent.getcurrent())
            self._serve(sock, addr)

        server = gevent.server.StreamServer(("127.0.0.1", 0), handle)
        try:
            server.start()
            self.port = server.server_port
            self._gevent_request_stop = lambda: hub.loop.run_callback_threadsafe(
                stop.set
            )
            ready.set()
            stop.wait()
            server.close()
            # Give handlers their grace, then abort what is still open so
            # that the greenlets end by themselves.
            gevent.joinall(greenlets, timeout=self.grace)
            if any(not greenlet.dead for greenlet in greenlets):
                with self._lock:
                    for ws in self.websockets:
                        ws.abort()
                gevent.joinall(greenlets, timeout=5)
                alive = [greenlet for greenlet in greenlets if not greenlet.dead]
                if alive:
                    self.errors.append(RuntimeError(f"{len(alive)} greenlet(s) stuck"))
                    gevent.killall(alive, timeout=1)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            ready.set()
            hub.destroy(destroy_loop=True)


# -- The websockets library's sync server -------------------------------------


class WebsocketsServer:
    """``websockets.sync.server.serve`` on 127.0.0.1, on a free port, in a thread.

    ``handler`` receives the ``websockets`` ``ServerConnection``. Exceptions it
    raises are kept in :attr:`errors` (connection closures excepted) and fail
    the ``with`` block.
    """

    def __init__(self, handler: Callable[[Any], Any], **kwargs: Any) -> None:
        from websockets.sync.server import serve

        self.errors: list[BaseException] = []
        self.connections: list[Any] = []
        kwargs.setdefault("ping_interval", None)
        self.server = serve(self._handle, "127.0.0.1", 0, **kwargs)
        self.handler = handler
        self.port = self.server.socket.getsockname()[1]
        self.url = f"{'wss' if kwargs.get('ssl') else 'ws'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handle(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        self.connections.append(connection)
        try:
            self.handler(connection)
        except ConnectionClosed:
            pass
        except BaseException as exc:
            self.errors.append(exc)
            raise

    def __enter__(self) -> WebsocketsServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.server.shutdown()
        self._thread.join(10000 * MS)
        if self._thread.is_alive():
            self.errors.append(RuntimeError("websockets server thread did not stop"))
        if exc_type is None and self.errors:
            raise AssertionError(f"errors in the websockets server: {self.errors!r}")


def websockets_echo(connection: Any) -> None:
    for message in connection:
        connection.send(message)


# -- Raw TCP servers ----------------------------------------------------------


class RawServer:
    """Accept TCP connections on 127.0.0.1 and run ``handler(sock)`` on each.

    For peers that misbehave on purpose: never answer, close mid-handshake...
    """

    def __init__(self, handler: Callable[[socket.socket], Any]) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        self.sockets: list[socket.socket] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._main = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(sock)
            thread = threading.Thread(target=self._run, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, sock: socket.socket) -> None:
        try:
            self.handler(sock)
        except OSError:
            pass
        except BaseException as exc:
            self.errors.append(exc)

    def __enter__(self) -> RawServer:
        self._main.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # shutdown() wakes accept() on Linux; close() alone would not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self._main.join(5000 * MS)
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(5000 * MS)
        if exc_type is None and self.errors:
            raise AssertionError(f"errors in the raw server: {self.errors!r}")


# -- The gevent echo server subprocess ----------------------------------------


def subprocess_env() -> dict[str, str]:
    """The environment for Python subprocesses: this checkout first on the path."""
    env = dict(os.environ)
    paths = [ROOT_DIR, TESTS_DIR]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class GeventServerProcess:
    """Run ``gevent_echo_server.py`` in a subprocess and learn its port.

    The subprocess monkey-patches (unless ``patch=False``), so the pytest
    process never does. It is stopped with SIGTERM, then SIGKILL, by PID.
    """

    def __init__(self, *args: str, timeout: float = 20000 * MS) -> None:
        self.args = list(args)
        self.timeout = timeout
        self.port = 0
        self.proc: Optional[subprocess.Popen[str]] = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> GeventServerProcess:
        script = os.path.join(TESTS_DIR, "gevent_echo_server.py")
        self.proc = subprocess.Popen(
            [sys.executable, script, *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        try:
            line = self._read_line(self.timeout)
            if not line.startswith("PORT "):
                raise RuntimeError(
                    f"unexpected output from the gevent server: {line!r}"
                )
            self.port = int(line.split()[1])
        except BaseException:
            self.stop()
            raise
        return self

    def _read_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while not line.endswith("\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError(
                        f"the gevent server printed no port in {timeout}s"
                    )
                chunk = os.read(fd, 1)
                if not chunk:
                    raise RuntimeError(
                        f"the gevent server exited: {self.proc.wait(5)} "
                        f"{self.proc.stderr.read() if self.proc.stderr else ''}"
                    )
                line += chunk.decode()
        return line.strip()

    def stop(self) -> tuple[Optional[int], str]:
        """Terminate the subprocess; return its exit status and stderr."""
        proc = self.proc
        if proc is None:
            return None, ""
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5000 * MS)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5000 * MS)
        stderr = proc.stderr.read() if proc.stderr else ""
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self.proc = None
        self.returncode, self.stderr = proc.returncode, stderr
        return proc.returncode, stderr

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()


# -- TLS ----------------------------------------------------------------------


def make_certificate(directory: str) -> Optional[tuple[str, str]]:
    """Create a self-signed certificate for 127.0.0.1 and localhost.

    Uses the ``cryptography`` package when installed, else the ``openssl``
    command. Returns ``(certfile, keyfile)``, or ``None`` if neither exists.
    """
    certfile = os.path.join(directory, "cert.pem")
    keyfile = os.path.join(directory, "key.pem")
    try:
        _make_certificate_with_cryptography(certfile, keyfile)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            return None
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                keyfile,
                "-out",
                certfile,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return certfile, keyfile


def _make_certificate_with_cryptography(certfile: str, keyfile: str) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    with open(keyfile, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(certfile, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def iter_chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# -- wsocket's own server in a thread -----------------------------------------


@contextlib.contextmanager
def serving(app: Any) -> Iterator[int]:
    """Serve ``app`` with wsocket's own threaded server; yield its port.

    The server is stopped (two seconds of grace) and its thread joined on
    the way out.
    """
    from wsocket.server import make_server

    server = make_server(app, "127.0.0.1", 0, "threading")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.stop(grace=2)
        thread.join(5000 * MS)
    assert not thread.is_alive()


def assert_echoes(port: int, path: str = "/echo", **options: Any) -> None:
    """Open a WebSocket with the ``websockets`` library; check text and bytes echo.

    ``options`` go to ``websockets.sync.client.connect``.
    """
    from websockets.sync.client import connect

    uri = f"ws://127.0.0.1:{port}{path}"
    with connect(uri, open_timeout=10000 * MS, **options) as ws:
        ws.send("text é")
        assert ws.recv(10000 * MS) == "text é"
        ws.send(b"\x00\xff" * 1000)
        assert ws.recv(10000 * MS) == b"\x00\xff" * 1000


# -- JSON-RPC peers ------------------------------------------------------------


class RPCPeer:
    """A JSON-RPC 2.0 peer over a text WebSocket, for the real-time tests.

    Subclasses say how text travels (:meth:`send_text`, :meth:`recv_text`).
    :meth:`call` waits for the reply with its id; requests and notifications
    from the server that arrive meanwhile are kept in :attr:`events`, where
    :meth:`event` and :meth:`until` look first. With ``strict`` set, the
    reply must be the very next message.
    """

    strict = False

    def __init__(self) -> None:
        self.next_id = 1
        self.events: list[Any] = []

    def send_text(self, text: str) -> None:
        raise NotImplementedError

    def recv_text(self, timeout: float) -> str:
        raise NotImplementedError

    def send(self, value: Any) -> None:
        self.send_text(value if isinstance(value, str) else json.dumps(value))

    def recv(self, timeout: float = 5000 * MS) -> Any:
        return json.loads(self.recv_text(timeout))

    def call(self, method: str, params: Any = None) -> Any:
        call_id = self.next_id
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": call_id}
        if params is not None:
            message["params"] = params
        self.send(message)
        while True:
            reply = self.recv()
            if self.strict:
                assert reply.get("id") == call_id and "method" not in reply, reply
                return reply
            if "method" in reply:
                self.events.append(reply)
            elif reply.get("id") == call_id:
                return reply

    def result(self, method: str, params: Any = None) -> Any:
        reply = self.call(method, params)
        assert "result" in reply, reply
        return reply["result"]

    def emit(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def event(self, timeout: float = 5000 * MS) -> Any:
        """The next message from the server that is not a reply to a call."""
        if self.events:
            return self.events.pop(0)
        return self.recv(timeout)

    def until(self, method: str, timeout: float = 5000 * MS) -> list[Any]:
        """Every event up to and including the first ``method`` one."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.event(max(10 * MS, deadline - time.monotonic()))
            seen.append(event)
            if event["method"] == method:
                return seen


class WebsocketsRPCPeer(RPCPeer):
    """An :class:`RPCPeer` over a ``websockets`` sync client (a context manager).

    Args:
        port: the server's port on 127.0.0.1.
        query: appended to the ``/ws`` path, e.g. ``"?auth=ok"``.
        timeout: for the handshake, the closing handshake and each receive.
    """

    def __init__(self, port: int, query: str = "", timeout: float = 10.0) -> None:
        from websockets.sync.client import connect

        super().__init__()
        self.timeout = timeout
        # Entered as a context manager, as websockets asks.
        self.ws = connect(
            f"ws://127.0.0.1:{port}/ws{query}",
            open_timeout=timeout,
            close_timeout=timeout,
            compression=None,
            max_size=2**24,
        ).__enter__()

    def __enter__(self) -> WebsocketsRPCPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def send_text(self, text: str) -> None:
        self.ws.send(text)

    def recv_text(self, timeout: float) -> str:
        # A binary message holding JSON is read as well.
        message: str = self.ws.recv(timeout)
        return message

    def recv(self, timeout: Optional[float] = None) -> Any:
        return super().recv(self.timeout if timeout is None else timeout)

    def event(self, timeout: Optional[float] = None) -> Any:
        return super().event(self.timeout if timeout is None else timeout)

    def until(self, method: str, timeout: Optional[float] = None) -> list[Any]:
        return super().until(method, self.timeout if timeout is None else timeout)
