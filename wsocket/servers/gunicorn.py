"""Adapter for gunicorn's workers: ``gevent``, ``gevent_pywsgi``, ``gthread``, ``sync``.

Usage: wrap the app and run gunicorn as usual; no custom worker class and no
gunicorn hook is needed::

    # myproject/wsgi.py
    from wsocket import WebSocketMiddleware
    app = WebSocketMiddleware(app)

    $ gunicorn -k gevent -w 4 -b 0.0.0.0:8000 myproject.wsgi:app

Which worker (``-k``) to pick:

- ``gevent``: one greenlet per connection, thousands of WebSockets per
  worker. The choice for WebSockets.
- ``gevent_pywsgi``: the same, with gevent's own HTTP handler.
- ``gthread``: each open WebSocket holds one of the worker's ``--threads``
  threads until it closes; with all of them held, the worker answers no
  other request. Fine for a few WebSockets per worker.
- ``sync``: one connection at a time per worker, and the arbiter aborts a
  worker whose request outlives ``--timeout`` (30 s by default), which cuts
  the WebSocket. Usable only for short sessions and tests.

On ``sync`` or ``gthread``, a warning is logged once per process when the
app is loaded (:func:`warn_at_load`), or else at the first upgrade, naming
the worker, its ``--timeout`` or ``--threads`` and what to run instead.

When a worker is told to stop (SIGTERM: a deploy, a scale-down), its open
WebSockets get a 1001 Close at once, instead of holding the stop for
``--graceful-timeout`` and then being dropped; those whose clients do not
answer are aborted a second before ``--graceful-timeout`` runs out. The
middleware chains this to gunicorn's own SIGTERM handler when the worker
loads the app. ``-k wsocket.servers.gunicorn.GeventWorker`` and
``-k wsocket.servers.gunicorn.ThreadWorker`` (gunicorn's ``gevent`` and
``gthread`` workers) do the same from the worker class, for apps loaded
with ``--preload``, where the arbiter loads the app.

Strategy: every worker puts the connection in the environ, as
``environ["gunicorn.socket"]`` (``gevent``, ``gthread``, ``sync``) or
``environ["gunicorn.sock"]`` (``gevent_pywsgi``, which runs gevent's own
handler and is taken over exactly as :mod:`wsocket.servers.gevent` does).

- *the 101*: the adapter calls ``start_response("101 Switching Protocols")``
  and the returned ``write(b"")``. gunicorn then writes the head itself (its
  access log says 101, with ``Connection: upgrade``); it sends no body
  framing after a 1xx status and drops any body bytes, so the frames go
  straight to the socket;
- *taking over*: bytes the request parser read past the request head are
  taken out of its buffer (after the request body, if any) and handed to the
  protocol;
- *finishing*: the app returns an empty list, so gunicorn writes nothing
  more. The WebSocket shuts the socket down when the session ends and
  gunicorn, which keeps ownership, closes it: ``sync`` closes after every
  request; ``gevent`` and ``gthread`` look for a next request on the
  keep-alive connection, read end-of-file and close it, logging nothing
  above debug level.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from .. import registry
from ..concurrency import is_gevent_socket
from . import Adapter
from .gevent import pywsgi_take_over, send_101

__all__ = [
    "GunicornAdapter",
    "worker_kind",
    "worker_advice",
    "warn_at_load",
    "close_open_websockets",
    "GeventWorker",
    "ThreadWorker",
]

if TYPE_CHECKING:
    # Built on first access by the module's __getattr__ (below).
    GeventWorker: Any
    ThreadWorker: Any

logger = logging.getLogger("wsocket.server")


def worker_kind(environ: Any) -> str:
    """Tell which kind of gunicorn worker produced ``environ``.

    Returns:
        ``"gevent_pywsgi"``, ``"gevent"`` (any worker serving gevent sockets
        through gunicorn's own HTTP parser), ``"gthread"`` or ``"sync"``.
    """
    if "gunicorn.sock" in environ:
        return "gevent_pywsgi"
    if is_gevent_socket(environ.get("gunicorn.socket")):
        return "gevent"
    if environ.get("wsgi.multithread"):
        return "gthread"
    return "sync"


def worker_advice(kind: str, cfg: Any = None) -> Optional[str]:
    """The warning for a worker kind that starves or kills WebSockets.

    Args:
        kind: a value of :func:`worker_kind`.
        cfg: gunicorn's settings (``Config``), for the worker's name and its
            ``--timeout`` and ``--threads``; without them the text stays
            general.

    Returns:
        The text to log, or ``None`` for the gevent workers.
    """
    name = getattr(cfg, "worker_class_str", None) or kind
    pid = os.getpid()
    if kind == "sync":
        timeout = getattr(cfg, "timeout", None)
        if timeout == 0:
            cut = "--timeout is 0, so it is never aborted"
        elif timeout is None:
            cut = (
                "the arbiter aborts it once a request outlives --timeout, "
                "dropping the WebSocket"
            )
        else:
            cut = (
                f"the arbiter aborts it once a request outlives --timeout "
                f"({timeout:g} s), dropping the WebSocket"
            )
        return (
            f"wsocket: gunicorn worker {name!r} (pid {pid}) does not suit "
            "WebSockets: it serves one connection at a time, so while a "
            f"WebSocket is open it answers no other request, and {cut}. "
            "Run gunicorn with -k gevent for many WebSockets per worker, "
            "or -k gthread --threads N for up to N."
        )
    if kind == "gthread":
        threads = getattr(cfg, "threads", None)
        count = "them all" if threads is None else f"{threads}"
        held = "--threads" if threads is None else f"--threads ({threads})"
        return (
            f"wsocket: gunicorn worker {name!r} (pid {pid}) holds one of its "
            f"{held} threads for each open WebSocket: with {count} open, it "
            "answers no other request until one closes. Raise --threads to "
            "the number of WebSockets a worker must hold, or run gunicorn "
            "with -k gevent for many WebSockets per worker."
        )
    return None


_warned = False
_warned_lock = threading.Lock()


def _warn_once(kind: str, cfg: Any) -> None:
    global _warned
    with _warned_lock:
        if _warned:
            return
        _warned = True
    advice = worker_advice(kind, cfg)
    if advice is None:
        return
    # Where the user set up logging for wsocket, or else in gunicorn's error
    # log, where someone running gunicorn looks.
    target = logger if logger.hasHandlers() else logging.getLogger("gunicorn.error")
    target.warning("%s", advice)


#: gunicorn worker classes by the kinds :func:`worker_advice` knows, most
#: specific first (gevent_pywsgi's class derives from gevent's).
_KIND_BY_CLASS = (
    ("GeventPyWSGIWorker", "gevent_pywsgi"),
    ("GeventWorker", "gevent"),
    ("ThreadWorker", "gthread"),
    ("SyncWorker", "sync"),
)


def warn_at_load() -> None:
    """Warn, as gunicorn loads the app, about a worker kind unfit for WebSockets.

    :class:`~wsocket.middleware.WebSocketMiddleware` calls it when it is
    created in a process that imported gunicorn. The worker (or, with
    ``--preload``, the arbiter) loading the app is up the call stack; its
    settings name the worker class, ``--timeout`` and ``--threads``. Nothing
    is logged for the gevent workers, or when no gunicorn object is found.
    """
    frame: Optional[FrameType] = sys._getframe(1)
    warned = False
    while frame is not None:
        owner = frame.f_locals.get("self")
        cfg = getattr(owner, "cfg", None)
        if cfg is not None and type(owner).__module__.startswith("gunicorn"):
            if not warned:
                warned = True
                _warn_for(cfg)
            if isinstance(owner, _worker_base()):
                # Loaded in a worker (not in the arbiter, with --preload),
                # after gunicorn installed its signal handlers.
                _close_websockets_on_stop(owner)
                return
        frame = frame.f_back


def _warn_for(cfg: Any) -> None:
    try:
        worker_class = cfg.worker_class
    except Exception:  # an unimportable worker class: gunicorn says so
        return
    names = {cls.__name__ for cls in getattr(worker_class, "__mro__", ())}
    for name, kind in _KIND_BY_CLASS:
        if name in names:
            _warn_once(kind, cfg)
            return


def _gevent_patched() -> bool:
    if "gevent" not in sys.modules:
        return False
    import gevent.monkey

    return bool(gevent.monkey.is_module_patched("threading"))


def _worker_base() -> Any:
    import importlib

    return importlib.import_module("gunicorn.workers.base").Worker


_stop_hooked = False


def _close_websockets_on_stop(worker: Any) -> None:
    """Close this worker's WebSockets with 1001 as soon as it is told to stop.

    gunicorn stops a worker with SIGTERM and then waits up to
    ``--graceful-timeout`` for its requests, WebSockets included. The
    handler gunicorn installed is chained with one that starts
    :func:`wsocket.registry.close_all` in the background (a greenlet under
    the gevent workers, which patch threading), with a grace one second
    short of gunicorn's (half of it when it is under two seconds), so that
    clients hear 1001 at once and those that do not read are aborted before
    gunicorn gives up on the worker.
    """
    global _stop_hooked
    if _stop_hooked:
        return
    previous = signal.getsignal(signal.SIGTERM)
    graceful = getattr(getattr(worker, "cfg", None), "graceful_timeout", 30)
    grace = max(float(graceful) - 1.0, float(graceful) / 2)

    def on_term(signum: int, frame: Optional[FrameType]) -> None:
        if callable(previous):
            previous(signum, frame)
        close = functools.partial(registry.close_all, grace=grace)
        if _gevent_patched():
            # Under gevent the handler runs in the event loop, where
            # nothing may wait, not even for a thread to start.
            import gevent

            gevent.spawn(close)
        else:
            threading.Thread(
                target=close, name="wsocket-going-away", daemon=True
            ).start()

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # pragma: no cover - not the main thread
        return
    _stop_hooked = True


def _response(start_response: Callable[..., Any]) -> Any:
    """gunicorn's ``Response`` behind ``start_response``, if it is reachable.

    It is when no middleware outside ours wrapped ``start_response``.
    """
    response = getattr(start_response, "__self__", None)
    if hasattr(response, "headers_sent") and hasattr(response, "req"):
        return response
    return None


def _take_buffered(environ: Any, response: Any) -> bytes:
    """Take the bytes gunicorn's parser read past the request."""
    body = environ.get("wsgi.input")
    reader = getattr(body, "reader", None)
    if reader is None and response is not None:
        body = getattr(response.req, "body", None)
        reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    if body is None or unreader is None:
        return b""
    # A request body (unusual on an upgrade) comes first in the same buffer.
    body.read()
    take = getattr(unreader, "take_buffered", None)
    if take is not None:
        return bytes(take())
    data = bytes(unreader.buf.getvalue())
    unreader.buf = io.BytesIO()
    return data


class GunicornAdapter(Adapter):
    """gunicorn's ``sync``, ``gthread``, ``gevent`` and ``gevent_pywsgi`` workers."""

    name = "gunicorn"
    close_socket = False  # the worker closes the socket it accepted

    def matches(self, environ: Any) -> bool:
        return "gunicorn.socket" in environ or "gunicorn.sock" in environ

    def take_over(
        self,
        environ: Any,
        start_response: Callable[..., Any],
        headers: List[Tuple[str, str]],
    ) -> Tuple[Any, bytes]:
        response = _response(start_response)
        kind = worker_kind(environ)
        _warn_once(kind, getattr(response, "cfg", None))
        if kind == "gevent_pywsgi":
            return pywsgi_take_over(
                environ, start_response, headers, server="gunicorn gevent_pywsgi"
            )
        sock = environ["gunicorn.socket"]
        extra = _take_buffered(environ, response)
        send_101(start_response, headers)
        return sock, extra


ADAPTER = GunicornAdapter()


def close_open_websockets(
    code: int = 1001, reason: str = "server shutting down"
) -> None:
    """Start closing every WebSocket open in this process, without waiting.

    Each closing handshake runs in its own greenlet or thread (whichever
    suits the socket), so a slow client delays no other. Safe to call from a
    signal handler.

    Args:
        code: the close code; 1001 (going away) tells clients to reconnect.
        reason: a short explanation, at most 123 bytes of UTF-8.
    """
    registry.close_all(code, reason)


class _GoingAway:
    """Mixin for gunicorn workers: close WebSockets with 1001 on a graceful stop.

    gunicorn stops a worker gracefully on SIGTERM (a deploy, a scale-down,
    ``kill -TERM``): it stops accepting and waits up to ``--graceful-timeout``
    for open requests, WebSockets included, before killing them. Closing
    the WebSockets with 1001 right away ends those requests, so the worker
    exits at once and clients learn that they should reconnect.
    """

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)  # type: ignore[misc]
        close_open_websockets()


_WORKERS = {
    "GeventWorker": "gunicorn.workers.ggevent.GeventWorker",
    "ThreadWorker": "gunicorn.workers.gthread.ThreadWorker",
}
_built: Dict[str, Any] = {}


def _make_worker(name: str) -> Any:
    import importlib

    module, _, base_name = _WORKERS[name].rpartition(".")
    base = getattr(importlib.import_module(module), base_name)
    worker = type(
        name,
        (_GoingAway, base),
        {
            "__module__": __name__,
            "__doc__": (
                f"gunicorn's ``{base_name}`` that closes open WebSockets with 1001 "
                f"when the worker stops gracefully.\n\n"
                f"Use it as ``-k {__name__}.{name}``."
            ),
        },
    )
    return worker


def __getattr__(name: str) -> Any:
    # The worker classes subclass gunicorn's: build them on first use so that
    # importing this module never imports gunicorn (or gevent).
    if name in _WORKERS:
        if name not in _built:
            _built[name] = _make_worker(name)
        return _built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
