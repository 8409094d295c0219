"""The blocking WebSocket object, for servers and clients alike.

A :class:`WebSocket` drives a :class:`~wsocket.protocol.Protocol` over a
connected socket whose opening handshake is done. It has no reader thread:
:meth:`WebSocket.receive` reads from the socket in the calling thread (or
greenlet), which keeps a message's way from the kernel to the handler short.

Concurrency: any number of threads or greenlets may call :meth:`~WebSocket.send`
at once; frames never interleave. One lock guards the protocol object, held
only for the few microseconds a protocol call takes; another serialises writes
to the socket, so that a slow write never stops the reader. A reader that has a
reply to write (a Pong, the Close echo) writes it if no write is under way, and
otherwise leaves it to the writer, who drains every queued frame before it lets
go. Only one caller reads at a time.

Keepalive (``ping_interval``) runs a small background task that sends a Ping
every interval and fails the connection with 1011 when nothing at all arrived
from the peer within ``ping_timeout`` after it; while no one is reading, that
task reads in their place, keeping messages for the next :meth:`~WebSocket.receive`.
"""

from __future__ import annotations

import _socket
import logging
import os
import socket
import ssl
import threading
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from .concurrency import (
    is_eventlet_socket,
    is_gevent_socket,
    primitives_for,
    write_all,
)
from .exceptions import ConnectionClosed, ConnectionClosedError
from .protocol import (
    BinaryMessage,
    Close,
    Ping,
    Pong,
    Protocol,
    Side,
    State,
    TextMessage,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["WebSocket", "Data"]

Data = Union[str, bytes]

_OPEN = State.OPEN
_CLOSED = State.CLOSED
_monotonic = time.monotonic
_RECV_ERRORS = (OSError,)
#: After a failure, input is drained until the peer is quiet this long.
_QUIET = 0.25
#: How often a timed read looks again at a partial TLS record.
_TLS_POLL = 0.01
#: The most one read asks for while the rest of a large frame arrives.
_LARGE_READ = 1 << 20
#: Where each side's connections log (``WebSocket.logger``).
_SERVER_LOGGER = logging.getLogger("wsocket.server")
_CLIENT_LOGGER = logging.getLogger("wsocket.client")
# Guards the creation of a WebSocket's closed event (see _closed_waiter):
# held for no more than that, so one lock serves every connection.
_EVENT_CREATION = threading.Lock()


class _MessageQueue(List[Data]):
    """Messages read but not yet returned by :meth:`WebSocket.receive`.

    A list rather than a :class:`collections.deque`: an empty deque holds a
    block of 64 slots (over 600 bytes), and an idle connection's queue is
    empty; an empty list holds none, and drops its slots when emptied again.
    Queues are short, so taking from the front costs nothing that matters.
    """

    __slots__ = ()

    def popleft(self) -> Data:
        return self.pop(0)


class WebSocket:
    """An open WebSocket connection over a blocking socket.

    Servers get one in ``environ["wsgi.websocket"]``; clients get one from
    :func:`wsocket.connect`. Build one yourself only to run the protocol over
    a socket whose handshake you performed.

    Args:
        sock: the connected socket (plain, TLS, or gevent).
        protocol: the protocol state machine, in the OPEN state.
        environ: the WSGI environ of the upgrade request (server side).
        subprotocol: the negotiated subprotocol, if any.
        ping_interval: seconds between keepalive pings; ``None`` disables
            keepalive.
        ping_timeout: seconds to wait for any sign of life after a ping before
            failing the connection with 1011; defaults to ``ping_interval``.
        close_timeout: seconds to wait for the peer during the closing
            handshake before dropping TCP.
        read_size: bytes asked from the socket per read.
        close_socket: close ``sock`` when the connection ends (set to
            ``False`` when a server owns the socket and closes it itself).
        extra: bytes already read past the handshake, fed to the protocol.
        idle_timeout: close the connection with 1001 ("idle timeout") when no
            message arrived for this many seconds while someone waits in
            :meth:`receive`; ``None`` (the default) never does. Pings and
            pongs do not count as messages.
    """

    # Slots for what every connection holds, and a __dict__ so that
    # applications can still hang their own attributes on a WebSocket (the
    # dict is only created when they do).
    __slots__ = (
        "sock",
        "protocol",
        "environ",
        "subprotocol",
        "ping_interval",
        "ping_timeout",
        "close_timeout",
        "idle_timeout",
        "read_size",
        "close_socket",
        "logger",
        "_prim",
        "_proto_lock",
        "_write_lock",
        "_read_lock",
        "_closed_event",
        "_messages",
        "_socket_closed",
        "_end_told",
        "_going_away",
        "_tls",
        "_send_now",
        "_raw",
        "_drained",
        "_eof_deadline",
        "_closing_deadline",
        "_last_rx",
        "_last_message",
        "__dict__",
        "__weakref__",
    )

    def __init__(
        self,
        sock: Any,
        protocol: Protocol,
        *,
        environ: Optional[Dict[str, Any]] = None,
        subprotocol: Optional[str] = None,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = None,
        close_timeout: float = 10.0,
        read_size: int = 65536,
        close_socket: bool = True,
        extra: bytes = b"",
        idle_timeout: Optional[float] = None,
    ) -> None:
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError(
                "ping_interval must be a positive number of seconds or None"
            )
        if ping_timeout is not None and ping_timeout <= 0:
            raise ValueError(
                "ping_timeout must be a positive number of seconds or None"
            )
        if close_timeout < 0:
            raise ValueError("close_timeout must be zero or more seconds")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError(
                "idle_timeout must be a positive number of seconds, or None"
            )
        self.sock = sock
        self.protocol = protocol
        #: The WSGI environ of the upgrade request (server side), else ``{}``.
        self.environ: Dict[str, Any] = environ if environ is not None else {}
        #: The subprotocol agreed in the handshake, or ``None``.
        self.subprotocol = subprotocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout if ping_timeout is not None else ping_interval
        self.close_timeout = close_timeout
        self.idle_timeout = idle_timeout
        self.read_size = read_size
        self.close_socket = close_socket
        self.logger = _SERVER_LOGGER if protocol.side is Side.SERVER else _CLIENT_LOGGER

        prim = primitives_for(sock)
        self._prim = prim
        self._proto_lock = prim.Lock()
        self._write_lock = prim.Lock()
        self._read_lock = prim.Lock()
        # Set once the transport is closed; created by the first wait on it
        # (most connections never wait on it, and it costs an idle one).
        self._closed_event: Optional[Any] = None
        self._messages = _MessageQueue()
        self._socket_closed = False
        self._end_told = False
        self._eof_deadline: Optional[float] = None
        self._closing_deadline: Optional[float] = None
        self._last_rx = _monotonic()
        self._last_message = self._last_rx
        # The Close we sent on our own initiative to go away (idle timeout,
        # server stop): the code to report if the peer never answers it.
        self._going_away: Optional[Tuple[int, str]] = None
        # Looked up on the class: a gevent socket hands unknown attributes
        # to the socket under it, which raises for each one it lacks.
        self._tls = callable(getattr(type(sock), "pending", None))
        # A gevent socket's own non-blocking socket, read and written
        # directly (see _read_once), or None.
        self._raw = raw = _gevent_raw(sock)
        self._send_now = _nowait_sender(sock, raw)
        self._drained = True
        if extra:
            self._feed(extra)
        if ping_interval is not None:
            prim.spawn(self._keepalive, "wsocket-keepalive")

    # -- properties ------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the closing handshake started or the connection dropped."""
        return self.protocol.state is not _OPEN

    @property
    def close_code(self) -> Optional[int]:
        """Why the connection closed (RFC 6455 7.1.5), ``None`` while open.

        The code of the peer's Close frame (1005 if it had none), the code we
        failed the connection with (1002, 1007, 1009, 1011...), 1001 when we
        went away (idle timeout, server stop) and the peer did not answer in
        time, or 1006 when TCP dropped without a closing handshake.
        """
        code = self.protocol.close_code
        if code == 1006 and self._going_away is not None:
            return self._going_away[0]
        return code

    @property
    def close_reason(self) -> str:
        """The reason that goes with :attr:`close_code`, possibly empty."""
        if self.protocol.close_code == 1006 and self._going_away is not None:
            return self._going_away[1]
        return self.protocol.close_reason

    @property
    def finished(self) -> bool:
        """True once the connection is over and its socket released."""
        return self._socket_closed

    @property
    def side(self) -> Side:
        """:data:`~wsocket.protocol.SERVER` or :data:`~wsocket.protocol.CLIENT`."""
        return self.protocol.side

    # -- receiving -------------------------------------------------------------

    def receive(self, timeout: Optional[float] = None) -> Optional[Data]:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Pings are answered and the closing handshake is completed on the way.

        Args:
            timeout: seconds to wait at most; ``None`` waits as long as the
                connection is open.

        Returns:
            The message, or ``None`` once, when the connection has closed
            (see :attr:`close_code` for why), so that a
            ``while message is not None`` loop ends. Messages that arrived
            before the close are returned first.

        Raises:
            TimeoutError: if no message arrived within ``timeout``.
            ConnectionClosed: when called again after it returned ``None``:
                a loop that missed the ``None`` ends instead of spinning.
        """
        messages = self._messages
        if messages:
            try:
                return messages.popleft()
            except IndexError:  # another reader took it
                pass
        if self._end_told:
            raise self.protocol.close_exc()
        deadline = None if timeout is None else _monotonic() + timeout
        # Plain acquire() when waiting forever: gevent's Semaphore reads a
        # timeout of -1 as "do not wait".
        if timeout is None:
            self._read_lock.acquire()
        elif not self._read_lock.acquire(True, timeout):
            raise TimeoutError("timed out waiting for a message")
        try:
            while True:
                if messages:
                    return messages.popleft()
                if self._socket_closed or self.protocol.eof_rcvd:
                    self._finish()
                    self._end_told = True  # the next call raises
                    return None
                state = self.protocol.state
                if state is _CLOSED and not self._wait_eof():
                    self._end_told = True  # the next call raises
                    return None
                if deadline is None and state is _OPEN and self.idle_timeout is None:
                    self._read_once()  # the common case: block until data
                    continue
                wait = self._wait_limit(deadline, state)
                if wait is not None and (
                    wait <= 0 or not self._prim.wait_readable(self.sock, wait)
                ):
                    self._on_wait_expired(deadline)
                    continue
                if wait is not None and self._tls:
                    # recv() on TLS blocks until a whole record is in, which
                    # could outlast the limit: read without waiting.
                    if not self._read_tls_nowait():
                        self._closed_waiter().wait(min(wait, _TLS_POLL))
                    continue
                self._read_once(ready=True)
        finally:
            self._read_lock.release()

    def _wait_limit(self, deadline: Optional[float], state: State) -> Optional[float]:
        """Seconds receive() may wait for input now, or None for no limit."""
        limits = []
        if deadline is not None:
            limits.append(deadline)
        if state is _OPEN:
            if self.idle_timeout is not None:
                limits.append(self._last_message + self.idle_timeout)
        elif self._closing_deadline is not None:
            limits.append(self._closing_deadline)
        if not limits:
            return None
        return min(limits) - _monotonic()

    def _on_wait_expired(self, deadline: Optional[float]) -> None:
        """A wait in receive() ran out: say which limit, or act on it."""
        now = _monotonic()
        state = self.protocol.state
        if state is not _OPEN:
            if self._closing_deadline is not None and now >= self._closing_deadline:
                self._finish()  # the peer never answered our Close
                return
        elif (
            self.idle_timeout is not None
            and now >= self._last_message + self.idle_timeout
        ):
            self.logger.info("closing a WebSocket idle for %.3gs", self.idle_timeout)
            self.start_close(1001, "idle timeout", going_away=True)
            return
        if deadline is not None and now >= deadline:
            raise TimeoutError("timed out waiting for a message")

    def _wait_eof(self) -> bool:
        """Once the protocol is closed, wait for the peer to close TCP.

        After a clean closing handshake the server closes at once (nothing
        more can come) and the client waits for the server's EOF. After a
        failure the peer may still be sending (the rest of a message that
        was too big): closing with unread input would make the kernel send
        a reset, and the peer could lose our Close frame, the one that says
        why. So what arrives is read and dropped until EOF, a quiet spell,
        or ``close_timeout``.

        Returns False when the connection is now finished.
        """
        protocol = self.protocol
        failed = protocol.failure is not None or protocol.fail_code is not None
        if protocol.eof_sent and not failed:
            self._finish()
            return False
        if self._eof_deadline is None:
            self._eof_deadline = _monotonic() + self.close_timeout
        remaining = self._eof_deadline - _monotonic()
        wait = min(remaining, _QUIET) if failed else remaining
        if remaining <= 0 or not self._prim.wait_readable(self.sock, wait):
            self._finish()
            return False
        return True

    def _read_tls_nowait(self) -> bool:
        """Read what a TLS socket has without waiting; False if nothing came.

        On a blocking socket, ``recv()`` on TLS returns application data
        only: it waits for the rest of a partial record, and goes on past
        records that carry none (TLS 1.3 session tickets), however long
        that takes. So the socket is non-blocking for this one ``recv()``:
        the TLS layer takes what the kernel holds (which also reopens the
        kernel's receive window, which can close with less than a record
        in), keeps a partial record for the next call, and returns at once.
        A write in another thread or greenlet is not disturbed: one that
        meets the non-blocking socket waits and retries (see
        :meth:`_send_tls`). Returns True when something was read (data, or
        end of stream).
        """
        sock = self.sock
        if sock.pending():
            self._read_once(ready=True)
            return True
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            data = sock.recv(self.read_size)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return False
        except _RECV_ERRORS:
            data = b""
        finally:
            sock.settimeout(timeout)
        if not data and _tcp_open(sock):
            # A non-blocking TLS read that races a write in another thread
            # can report an end of stream that is not there: the TCP
            # connection says otherwise, so look again later.
            return False
        self._feed(data)
        return True

    def _read_ready(self) -> None:
        """Read once after :meth:`_prim.wait_readable` said there is input.

        On TLS that input may be part of a record only; the read then takes
        it without waiting for the rest, and pauses a moment so that a
        caller's loop does not spin while the record is incomplete.
        """
        if not self._tls:
            self._read_once(ready=True)
        elif not self._read_tls_nowait():
            self._closed_waiter().wait(_TLS_POLL)

    def _read_once(self, ready: bool = False) -> None:
        """Read from the socket once and process what arrived.

        ``ready`` says a wait just reported input. On a gevent socket the
        read waits first when the last one drained the kernel's buffer
        (the next bytes are most likely not in yet), instead of trying,
        failing with ``EAGAIN`` and then waiting, as gevent's ``recv()``
        does: one system call and one exception less per message.
        """
        raw = self._raw
        size = self.read_size
        needed = self.protocol.bytes_needed()
        if needed > size:
            # The rest of a large frame: fewer, larger reads.
            size = needed if needed < _LARGE_READ else _LARGE_READ
        try:
            if raw is None:
                data = self.sock.recv(size)
            else:
                sock = self.sock
                if self._drained and not ready:
                    _green_wait_read(sock)
                while True:
                    try:
                        data = raw.recv(size)
                        break
                    except BlockingIOError:
                        _green_wait_read(sock)
                self._drained = len(data) < size
        except _RECV_ERRORS:
            data = b""
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        protocol = self.protocol
        with self._proto_lock:
            if data:
                self._last_rx = _monotonic()
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events = protocol.events_received()
            pending = protocol.has_data_to_send()
        if events:
            messages = self._messages
            for event in events:
                cls = type(event)
                if cls is TextMessage or cls is BinaryMessage:
                    messages.append(event.data)  # type: ignore[attr-defined]
                    self._last_message = self._last_rx
                elif cls is Close:
                    self.logger.debug("< close %s", event)
                elif cls is Ping or cls is Pong:
                    pass
        if pending:
            self._flush(blocking=False)
        if protocol.state is _CLOSED and protocol.eof_sent and protocol.eof_rcvd:
            self._finish()

    def __iter__(self) -> Iterator[Data]:
        """Iterate over messages until the connection closes.

        The loop ends quietly on every kind of close, clean or abrupt;
        :attr:`close_code` says why it ended.
        """
        receive = self.receive
        while True:
            try:
                message = receive()
            except ConnectionClosed:
                return
            if message is None:
                return
            yield message

    # -- sending ---------------------------------------------------------------

    def send(
        self,
        data: Union[str, bytes, bytearray, memoryview],
        binary: Optional[bool] = None,
    ) -> None:
        """Send a message: a ``str`` as text, a bytes-like object as binary.

        Args:
            data: the message.
            binary: force a binary (``True``) or text (``False``) message.

        Raises:
            ConnectionClosed: if the connection is closed or closing.
            TypeError: if ``data`` is neither str nor bytes-like.
        """
        if binary is None:
            if isinstance(data, str):
                binary = False
            elif isinstance(data, (bytes, bytearray, memoryview)):
                binary = True
            else:
                raise TypeError(
                    f"send() takes str or bytes, not {type(data).__name__}; "
                    "serialise it first, e.g. with json.dumps()"
                )
        elif not isinstance(data, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"send() takes str or bytes, not {type(data).__name__}")
        protocol = self.protocol
        with self._write_lock:
            # One message, without _encode()'s batch: every message's path.
            with self._proto_lock:
                if protocol.state is not _OPEN:
                    raise protocol.close_exc()
                _queue(protocol, data, binary)
                out = protocol.data_to_send()
            self._write(out)
        if protocol.has_data_to_send():
            self._flush(blocking=False)

    def _encode(
        self, messages: Sequence[Tuple[Any, bool, Optional[bytes]]]
    ) -> List[bytes]:
        """Frame messages in the protocol; the caller holds the write lock.

        Each item is ``(data, binary, frame)``: ``frame`` is ``data``
        framed once for a broadcast (see :meth:`Protocol.send_prepared`),
        used as it is where the connection allows, or ``None``.
        """
        protocol = self.protocol
        with self._proto_lock:
            if protocol.state is not _OPEN:
                raise protocol.close_exc()
            for data, binary, frame in messages:
                if frame is None or not protocol.send_prepared(frame):
                    _queue(protocol, data, binary)
            return protocol.data_to_send()

    def send_nowait(
        self,
        data: Union[str, bytes, bytearray, memoryview],
        binary: Optional[bool] = None,
    ) -> bool:
        """Send a message unless that means waiting: for a writer, or the peer.

        Where :meth:`send` waits for its turn and for room in the socket's
        buffer, this returns at once, which is what a broadcast to many
        peers needs: one peer that does not read must not hold up the
        others.

        Args:
            data: the message, as for :meth:`send`.
            binary: force a binary (``True``) or text (``False``) message.

        Returns:
            ``True`` when the message is on its way: the kernel took its
            frame, or took part of it and a background task now owns the
            socket and writes the rest (later sends wait for that task).
            ``False`` when nothing was sent because another thread or
            greenlet is writing to this connection (usually a message the
            peer has not read yet): keep the message and try again later, or
            call :meth:`send`, which waits.

        Raises:
            ConnectionClosed: if the connection is closed or closing.
            TypeError: if ``data`` is neither str nor bytes-like.
        """
        return self._send_nowait(data, _binary_flag(data, binary), None)

    def _send_nowait(self, data: Any, binary: bool, frame: Optional[bytes]) -> bool:
        """:meth:`send_nowait`, given the frame of a broadcast if there is one.

        ``frame`` is ``data`` framed once for every connection (see
        :meth:`Protocol.send_prepared`): written as it is where the
        connection allows, which saves framing the message again.
        """
        return self._send_all_nowait(((data, binary, frame),))

    def _send_all_nowait(
        self, messages: Sequence[Tuple[Any, bool, Optional[bytes]]]
    ) -> bool:
        """:meth:`_send_nowait` for several messages, written at once.

        Each item is ``(data, binary, frame)``. All are sent, in order, or
        none (``False``: another task is writing).
        """
        if not self._write_lock.acquire(False):
            return False
        handed_over = False
        protocol = self.protocol
        try:
            out = self._encode(messages)
            data = out[0] if len(out) == 1 else b"".join(out)
            send_now = self._send_now
            try:
                sent = send_now(data) if send_now is not None else 0
            except BlockingIOError:
                sent = 0
            except OSError:
                # The peer is gone, as in _write().
                with self._proto_lock:
                    protocol.receive_eof()
                    protocol.data_to_send()
                self._close_transport()
                raise ConnectionClosedError(
                    1006, "connection lost while sending"
                ) from None
            if sent < len(data):
                # The frame is committed (compression state moved on): the
                # rest must follow before any other frame, so the lock goes
                # to a task that writes it.
                rest = memoryview(data)[sent:]
                self._prim.spawn(lambda: self._write_rest(rest), "wsocket-send")
                handed_over = True
        finally:
            if not handed_over:
                self._write_lock.release()
        if not handed_over and protocol.has_data_to_send():
            self._flush(blocking=False)
        return True

    def _send_batch(self, messages: List[Tuple[Any, Optional[bytes]]]) -> None:
        """Send several messages with one write, waiting as :meth:`send` does.

        Each item is ``(message, frame)``: a ``str`` (text) or ``bytes``
        (binary) message, and its frame from a broadcast or ``None`` (see
        :meth:`_send_nowait`). A client that fell behind gets its backlog
        this way, at the cost of one system call instead of one each.
        """
        protocol = self.protocol
        with self._write_lock:
            out = self._encode(
                [(data, not isinstance(data, str), frame) for data, frame in messages]
            )
            if len(out) > 1 and sum(map(len, out)) <= 65536:
                out = [b"".join(out)]
            self._write(out)
        if protocol.has_data_to_send():
            self._flush(blocking=False)

    def _write_rest(self, rest: memoryview) -> None:
        """Finish a frame :meth:`send_nowait` began; owns the write lock."""
        try:
            self._write([bytes(rest)])
        except ConnectionClosed:
            pass
        finally:
            self._write_lock.release()
        if self.protocol.has_data_to_send():
            self._flush(blocking=False)

    def ping(self, data: Union[str, bytes] = b"") -> None:
        """Send a Ping frame (at most 125 bytes of payload).

        Raises:
            ConnectionClosed: if the connection is closed or closing.
            ValueError: if the payload is too long.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._send_control(self.protocol.send_ping, data)

    def pong(self, data: Union[str, bytes] = b"") -> None:
        """Send an unsolicited Pong frame (a one-way heartbeat).

        Raises:
            ConnectionClosed: if the connection is closed or closing.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._send_control(self.protocol.send_pong, data)

    def _send_control(self, method: Any, data: bytes) -> None:
        with self._write_lock:
            with self._proto_lock:
                if self.protocol.state is not _OPEN:
                    raise self.protocol.close_exc()
                method(data)
                out = self.protocol.data_to_send()
            self._write(out)
        if self.protocol.has_data_to_send():
            self._flush(blocking=False)

    def _write(self, out: List[bytes]) -> None:
        """Write queued bytes; the caller holds the write lock."""
        sock = self.sock
        try:
            if self._tls:
                for chunk in out:
                    if chunk:
                        self._send_tls(chunk)
                    else:
                        self._shutdown_write()
                return
            if len(out) == 1 and out[0]:
                # The usual case, inline: one send() takes most frames.
                data = out[0]
                raw = self._raw
                if raw is None:
                    sent = sock.send(data)
                else:
                    try:
                        sent = raw.send(data)
                    except BlockingIOError:
                        sent = 0
                if sent < len(data):
                    sock.sendall(memoryview(data)[sent:])
                return
            for chunk in out:
                if chunk:
                    write_all(sock, chunk)
                else:
                    self._shutdown_write()
        except OSError:
            # The peer is gone: what we have not written cannot be delivered.
            with self._proto_lock:
                self.protocol.receive_eof()
                self.protocol.data_to_send()
            self._close_transport()
            raise ConnectionClosedError(1006, "connection lost while sending") from None

    def _send_tls(self, data: bytes) -> None:
        """Write all of ``data`` to a TLS socket; the caller holds the write lock.

        A timed read makes the socket non-blocking for a moment (see
        :meth:`_read_tls_nowait`), so a write may find it so and be told to
        try again: it then waits until the socket can take data and retries
        with the same bytes, as the TLS layer requires. ``sendall()`` is not
        used: it cannot say how much it wrote before such an error.

        Raises:
            OSError: if the connection is broken.
        """
        sock = self.sock
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view)
            except (ssl.SSLWantWriteError, BlockingIOError):
                self._prim.wait_writable(sock, None)
                continue
            except ssl.SSLWantReadError:
                # The TLS layer needs input first (a key update): the
                # reader takes it; look again shortly.
                self._prim.wait_readable(sock, _TLS_POLL)
                continue
            view = view[sent:]

    def _flush(self, blocking: bool) -> None:
        """Write what the protocol has queued, unless a writer is busy.

        A busy writer drains the queue itself before releasing the lock, and
        checks again after releasing it, so nothing stays behind.
        """
        while True:
            if not self._write_lock.acquire(blocking):
                return
            try:
                with self._proto_lock:
                    out = self.protocol.data_to_send()
                if out:
                    try:
                        self._write(out)
                    except ConnectionClosed:
                        return
            finally:
                self._write_lock.release()
            if not self.protocol.has_data_to_send():
                return

    def _shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # -- closing ---------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: closing handshake, then TCP.

        Waits up to ``close_timeout`` seconds for the peer's Close frame (and,
        on the client side, for the server to close TCP). Calling it again, or
        on a closed connection, does nothing.

        Args:
            code: the close code (1000 normal, 1001 going away, 4000-4999 for
                applications).
            reason: a short explanation, at most 123 bytes of UTF-8.

        Raises:
            ValueError: if the code may not be sent or the reason is too long.
        """
        protocol = self.protocol
        self.start_close(code, reason)
        deadline = _monotonic() + self.close_timeout
        # Read until the peer's Close (and EOF, for a client) or the deadline.
        if self._read_lock.acquire(True, self.close_timeout):
            try:
                while not self._socket_closed and not protocol.eof_rcvd:
                    if protocol.state is _CLOSED:
                        if not self._wait_eof():
                            break
                    else:
                        remaining = deadline - _monotonic()
                        if remaining <= 0 or not self._prim.wait_readable(
                            self.sock, remaining
                        ):
                            break
                    self._read_ready()
            finally:
                self._read_lock.release()
        else:
            self._closed_waiter().wait(max(0.0, deadline - _monotonic()))
        self._finish(reading=False)

    def start_close(
        self,
        code: int = 1000,
        reason: str = "",
        *,
        block: bool = True,
        going_away: bool = False,
    ) -> None:
        """Send a Close frame and return without waiting for the peer's reply.

        Whoever is reading completes the closing handshake. Servers use it to
        close many connections at once when they shut down.

        Args:
            code: the close code.
            reason: a short explanation, at most 123 bytes of UTF-8.
            block: write the frame before returning (the default). With
                ``False``, the frame is queued after the frame being sent,
                if any, and written in the background as soon as the socket
                can take it: a peer that does not read cannot hold the
                caller up.
            going_away: the close is the server's decision to go away (stop,
                idle timeout): if the peer never answers,
                :attr:`close_code` reports ``code`` rather than 1006.

        Raises:
            ValueError: if the code may not be sent or the reason is too long.
        """
        with self._proto_lock:
            if self.protocol.state is _OPEN:
                self.protocol.send_close(code, reason)
                self._closing_deadline = _monotonic() + self.close_timeout
                if going_away:
                    self._going_away = (code, reason)
        if block:
            self._flush(blocking=True)
        elif self.protocol.has_data_to_send():
            self._prim.spawn(self._flush_in_background, "wsocket-close")

    def _flush_in_background(self) -> None:
        try:
            self._flush(blocking=True)
        except (OSError, ValueError):  # pragma: no cover - socket gone under us
            pass

    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake.

        Frames not yet written are discarded, and a write blocked on a peer
        that does not read ends with :class:`~wsocket.exceptions.ConnectionClosed`.
        """
        with self._proto_lock:
            self.protocol.receive_eof()
            self.protocol.data_to_send()
        self._close_transport()

    def fail(self, code: int = 1011, reason: str = "") -> None:
        """Send a Close frame with ``code`` and drop TCP without waiting."""
        with self._proto_lock:
            self.protocol.fail(code, reason)
        self._flush(blocking=False)
        self._close_transport()

    def _finish(self, reading: bool = True) -> None:
        """The connection is over: mark it closed and release the socket.

        ``reading`` says the caller holds the read lock: no other reader can
        be blocked on the socket.
        """
        if self.protocol.has_data_to_send() and not self._socket_closed:
            # Let the last frames (the Close echo) reach the wire first.
            if self._write_lock.acquire(True, self.close_timeout):
                self._write_lock.release()
                self._flush(blocking=False)
        with self._proto_lock:
            if not self.protocol.eof_rcvd:
                self.protocol.receive_eof()
            self.protocol.data_to_send()
        self._close_transport(wake_reader=not reading)

    def _close_transport(self, wake_reader: bool = True) -> None:
        if self._socket_closed:
            return
        self._socket_closed = True
        # After the flag: a waiter that creates the event then reads the
        # flag, so either it sees True or this sees its event.
        event = self._closed_event
        if event is not None:
            event.set()
        sock = self.sock
        if wake_reader or not self.close_socket:
            # Wakes a reader blocked in recv(), which close() alone does not;
            # on a socket the host server closes later, it is what ends the
            # connection now.
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.close_socket:
            try:
                sock.close()
            except OSError:  # pragma: no cover - close() rarely fails
                pass

    # -- keepalive -------------------------------------------------------------

    def _closed_waiter(self) -> Any:
        """The event set when the transport closes, created on first use."""
        event = self._closed_event
        if event is None:
            with _EVENT_CREATION:
                event = self._closed_event
                if event is None:
                    event = self._closed_event = self._prim.Event()
                    if self._socket_closed:
                        event.set()
        return event

    def _keepalive(self) -> None:
        try:
            self._keepalive_loop()
        except (OSError, ValueError, ConnectionClosed):
            # The socket was closed under the task (a poll on a closed
            # descriptor, a write to a dropped peer): nothing left to keep.
            pass

    def _keepalive_loop(self) -> None:
        assert self.ping_interval is not None and self.ping_timeout is not None
        interval = self.ping_interval
        timeout = self.ping_timeout
        protocol = self.protocol
        while not self._closed_waiter().wait(interval):
            with self._proto_lock:
                if protocol.state is not _OPEN:
                    return
                sent_at = _monotonic()
                protocol.send_ping(os.urandom(4))
            # Written in the background: a write to a peer that vanished (or
            # stopped reading) may block, and this task must stay free to
            # fail the connection when no answer comes; failing it unblocks
            # every write in progress with ConnectionClosed.
            self._prim.spawn(self._flush_in_background, "wsocket-ping")
            deadline = sent_at + timeout
            while self._last_rx < sent_at:
                if self._socket_closed:
                    return
                remaining = deadline - _monotonic()
                if remaining <= 0:
                    self.logger.info("keepalive: no answer to a ping in %.3gs", timeout)
                    self.fail(1011, "keepalive ping timeout")
                    return
                # Read in the application's place if it is not reading.
                if len(self._messages) < 64 and self._read_lock.acquire(False):
                    try:
                        if self._closed_waiter().is_set():
                            return
                        wait = min(remaining, 0.05)
                        if self._prim.wait_readable(self.sock, wait):
                            self._read_ready()
                    finally:
                        self._read_lock.release()
                elif self._prim.wait_readable(self.sock, 0):
                    # The application holds the reader or has a full queue:
                    # data waiting on the socket is a sign of life too.
                    break
                elif self._closed_waiter().wait(min(remaining, 0.05)):
                    return

    # -- context manager -------------------------------------------------------

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(
        self,
        exc_type: Optional[type],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.close(1011, "")

    def __repr__(self) -> str:
        state = self.protocol.state.name
        return f"<WebSocket {self.side.name.lower()} {state}>"


def _binary_flag(data: Any, binary: Optional[bool]) -> bool:
    """Whether ``data`` goes out as a binary message; raise if it cannot."""
    if not isinstance(data, (str, bytes, bytearray, memoryview)):
        raise TypeError(
            f"send() takes str or bytes, not {type(data).__name__}; "
            "serialise it first, e.g. with json.dumps()"
        )
    if binary is None:
        return not isinstance(data, str)
    return binary


_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
#: gevent.getcurrent, imported with the first gevent socket seen.
_getcurrent: Any = None


def _tcp_open(sock: Any) -> bool:
    """Whether the TCP connection under a TLS socket has not ended.

    Peeks at the raw stream (below the TLS layer) without waiting: bytes
    waiting, or none yet, mean open; an end of stream or an error, not.
    """
    if not _DONTWAIT:
        return False
    try:
        return bool(socket.socket.recv(sock, 1, socket.MSG_PEEK | _DONTWAIT))
    except BlockingIOError:
        return True
    except OSError:
        return False


def _queue(protocol: Protocol, data: Any, binary: bool) -> None:
    """Queue one message in ``protocol``; the caller holds its lock."""
    if not binary:
        protocol.send_text(data)
    elif isinstance(data, str):
        protocol.send_binary(data.encode("utf-8"))
    else:
        protocol.send_binary(data)


def _gevent_raw(sock: Any) -> Optional[_socket.socket]:
    """The non-blocking socket under a plain gevent socket, or ``None``.

    ``None`` for other sockets, for TLS, and for a gevent socket without
    the waiting methods this module uses (``_wait`` and ``_read_event``).
    """
    if not is_gevent_socket(sock) or hasattr(type(sock), "pending"):  # TLS
        return None
    raw = getattr(sock, "_sock", None)
    if (
        isinstance(raw, _socket.socket)
        and raw.gettimeout() == 0.0
        and hasattr(sock, "_wait")
        and hasattr(sock, "_read_event")
        and hasattr(sock, "hub")
    ):
        global _getcurrent
        if _getcurrent is None:
            from gevent import getcurrent

            _getcurrent = getcurrent
        return raw
    return None


def _green_wait_read(sock: Any) -> None:
    """Wait until a gevent socket has input, as its own ``recv()`` would.

    The read watcher calls the waiting greenlet back directly, where
    gevent's wait goes through a ``Waiter`` and three more compiled calls:
    a waiting connection keeps a shorter C stack (copied to the heap while
    it waits) and allocates nothing per wait. A socket with a timeout, or
    a watcher in use, takes gevent's own wait, with its checks and errors.
    A switch into the greenlet from elsewhere only costs a read that
    finds nothing and waits again.
    """
    watcher = sock._read_event
    if sock.timeout is not None or watcher is None or watcher.callback is not None:
        sock._wait(watcher)
        return
    watcher.start(_getcurrent().switch)
    try:
        sock.hub.switch()
    finally:
        watcher.stop()


def _nowait_sender(
    sock: Any, raw: Optional[_socket.socket]
) -> Optional[Callable[[bytes], int]]:
    """A function that writes what ``sock`` takes at once, without waiting.

    It returns how many bytes the kernel took, and raises
    :exc:`BlockingIOError` when it took none, or :exc:`OSError` when the
    connection is broken. A plain socket gets ``MSG_DONTWAIT``, which
    leaves its blocking mode alone (a reader may be waiting in ``recv()``
    on it); a gevent socket's own non-blocking socket, ``raw`` (from
    :func:`_gevent_raw`), is written directly, which involves no switch to
    the hub. ``None`` for sockets that cannot (TLS, eventlet, platforms
    without the flag): their messages are written by a background task.
    """
    if raw is not None:
        return raw.send
    if isinstance(sock, ssl.SSLSocket) or is_eventlet_socket(sock):
        return None
    if is_gevent_socket(sock):
        if hasattr(type(sock), "pending"):  # TLS
            return None
        gsend = sock.send
        return lambda data: int(gsend(data, 0, 0.0))
    if not _DONTWAIT:
        return None
    send = sock.send
    return lambda data: int(send(data, _DONTWAIT))
