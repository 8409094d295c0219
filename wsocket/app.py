"""WSocketApp: a small WSGI framework with WebSocket routes.

Usage::

    from wsocket import WSocketApp

    app = WSocketApp()

    @app.route("/hello/<name>")
    def hello(name):
        return f"Hello, {name}!"

    @app.websocket("/echo")
    def echo(ws):
        for message in ws:
            ws.send(message)

    app.run(port=8080)

How a request is served:

1. The path is looked up in the :class:`~wsocket.routing.Router` *before*
   anything is answered, WebSocket upgrades included: an upgrade to an
   unknown path gets a 404 and one with the wrong method a 405, never a
   ``101 Switching Protocols`` followed by a close.
2. An upgrade to a WebSocket-capable route goes to the
   :class:`~wsocket.middleware.WebSocketMiddleware` built for that route when
   it was registered (with the app's WebSocket options, overridden by the
   route's), which performs the handshake and then calls the handler with the
   open connection.
3. Any other request calls the handler in the way its signature asked for
   (see :meth:`WSocketApp.route`), and :func:`~wsocket.responses.to_wsgi`
   turns what it returned into the response.
4. An exception becomes a 500 page (with the traceback when ``debug`` is
   on) and a log entry on the ``wsocket.app`` logger; an
   :class:`~wsocket.responses.HTTPError` becomes its response. Either goes
   through the error handler registered for its status, if any.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import re
import sys
import traceback
import urllib.parse
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from .connection import WebSocket
from .exceptions import ConnectionClosed
from .handshake import SUPPORTED_VERSIONS, is_upgrade_request
from .middleware import WebSocketMiddleware, handles_websockets
from .realtime.events import Connection, Events
from .realtime.jsonrpc import RawMessages
from .realtime.script import CLIENT_JS_PATH, serve_client_js
from .responses import (
    DEFAULT_CONTENT_TYPE,
    HTTPError,
    Response,
    StatusLike,
    _body,
    _chunk,
    _close,
    error_page,
    header_list,
    status_line,
    to_wsgi,
)
from .routing import BuildError, NoMatch, Router, build_path
from .utils import GUID

__all__ = ["WSocketApp", "Route", "EventHook", "calling_style"]

logger = logging.getLogger("wsocket.app")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)

# How a handler is called, decided once from its signature.
WSGI = "wsgi"  # handler(environ, start_response, **params)
REQUEST = "request"  # handler(request, **params)
PARAMS = "params"  # handler(**params)
SOCKET = "websocket"  # handler(ws, **params), for @app.websocket

_HTTP_METHOD = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NOT_MERGED = frozenset(("content-type", "content-length"))


def _websocket_option_names() -> Tuple[str, ...]:
    params = inspect.signature(WebSocketMiddleware).parameters
    return tuple(name for name in params if name != "app")


def _check_options(options: Dict[str, Any], where: str) -> None:
    known = _websocket_option_names()
    for name in options:
        if name not in known:
            raise TypeError(
                f"{where}: unknown WebSocket option {name!r}; the options are "
                + ", ".join(known)
            )


_PARAM_NAMES = re.compile(r"<(?:[A-Za-z_][A-Za-z0-9_]*:)?([A-Za-z_][A-Za-z0-9_]*)>")


def _key_text(key: Tuple[str, str]) -> str:
    path, what = key
    if what == "websocket":
        return f"the WebSocket route {path!r}"
    if what == "*":
        return f"{path!r} for every method"
    return f"{what} {path!r}"


def _route_path(environ: Dict[str, Any]) -> str:
    """The request path as text.

    PEP 3333 gives it as bytes decoded as Latin-1; URLs are UTF-8. Bytes that
    are not UTF-8 become lone surrogates (as :func:`os.fsdecode` does), which
    no route written as text matches.
    """
    path = str(environ.get("PATH_INFO") or "/")
    if not path.isascii():
        try:
            path = path.encode("latin-1").decode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            pass  # the server gave text already
    return path


def _shown(path: str) -> str:
    """``path`` fit for a page: undecodable bytes shown as U+FFFD."""
    if path.isascii():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _is_request_annotation(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.rsplit(".", 1)[-1] == "Request"
    return (
        isinstance(annotation, type)
        and annotation.__name__ == "Request"
        and annotation.__module__.startswith("wsocket")
    )


def _signature(handler: Handler) -> Optional[inspect.Signature]:
    try:
        return inspect.signature(handler)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: assume it fits


def _positional(sig: Optional[inspect.Signature]) -> List[inspect.Parameter]:
    if sig is None:
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in sig.parameters.values() if p.kind in kinds]


def calling_style(handler: Handler) -> str:
    """Tell how ``handler`` wants to be called, from its signature.

    Returns:
        ``"wsgi"`` when its first parameter is named ``environ``;
        ``"request"`` when it is named ``request`` or annotated ``Request``;
        ``"params"`` otherwise (the handler takes path parameters only).
    """
    params = _positional(_signature(handler))
    if params:
        first = params[0]
        if first.name == "environ":
            return WSGI
        if first.name == "request" or _is_request_annotation(first.annotation):
            return REQUEST
    return PARAMS


def _describe(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _check_binds(
    handler: Handler, leading: int, names: Sequence[str], what: str, how: str
) -> None:
    sig = _signature(handler)
    if sig is None:
        return
    try:
        sig.bind(*([None] * leading), **dict.fromkeys(names))
    except TypeError as exc:
        raise TypeError(
            f"{_describe(handler)}() cannot handle {what}: it is called as "
            f"{how}, and {exc}"
        ) from None


def _call_form(style: str, names: Sequence[str]) -> str:
    params = "".join(f", {name}=..." for name in names)
    if style == WSGI:
        return f"handler(environ, start_response{params})"
    if style == REQUEST:
        return f"handler(request{params})"
    if style == SOCKET:
        return f"handler(ws{params})"
    return f"handler({params[2:]})"


def _normalize_methods(
    methods: Union[None, str, Iterable[str]],
) -> Optional[FrozenSet[str]]:
    if methods is None:
        return frozenset(("GET",))
    if isinstance(methods, str):
        if methods == "*":
            return None
        methods = [methods]
    result = frozenset(method.upper() for method in methods)
    for method in result:
        if not method or not set(method) <= _HTTP_METHOD:
            raise ValueError(f"invalid HTTP method {method!r}")
    if not result:
        raise ValueError("methods must name at least one HTTP method, or be '*'")
    return result


_request_class: Any = None


def _make_request(environ: Dict[str, Any]) -> Any:
    global _request_class
    if _request_class is None:
        try:
            from .request import Request
        except ImportError as exc:
            raise RuntimeError(
                "a handler asked for a request object, but wsocket.request "
                f"cannot be imported: {exc}"
            ) from exc
        _request_class = Request
    return _request_class(environ)


# An invoker calls one handler the way its signature asked, built once when
# the handler is registered: invoke(environ, start_response, kwargs).
Invoker = Callable[[Dict[str, Any], Any, Dict[str, Any]], Any]


def _upgrade_required() -> HTTPError:
    return HTTPError(
        426,
        error_page(426, "This URL only accepts WebSocket connections."),
        [("Upgrade", "websocket")],
    )


def _invoker(handler: Handler, style: str) -> Invoker:
    """Build the invoker of ``handler`` for its calling ``style``."""
    if style == WSGI:

        def invoke(environ: Dict[str, Any], start: Any, kw: Dict[str, Any]) -> Any:
            return handler(environ, start, **kw)

    elif style == REQUEST:

        def invoke(environ: Dict[str, Any], start: Any, kw: Dict[str, Any]) -> Any:
            return handler(_make_request(environ), **kw)

    elif style == SOCKET:

        def invoke(environ: Dict[str, Any], start: Any, kw: Dict[str, Any]) -> Any:
            ws = environ.get("wsgi.websocket")
            if ws is None:  # plain HTTP to a WebSocket-only route
                raise _upgrade_required()
            return handler(ws, **kw)

    else:

        def invoke(environ: Dict[str, Any], start: Any, kw: Dict[str, Any]) -> Any:
            return handler(**kw)

    return invoke


def _client_error(exc: Exception) -> Optional[HTTPError]:
    """The HTTP error for a request the client must change (400, 413...)."""
    module = sys.modules.get("wsocket.request")
    request_error = getattr(module, "RequestError", None)
    if request_error is None or not isinstance(exc, request_error):
        return None
    status = int(getattr(exc, "status", 400))
    message = str(getattr(exc, "message", "")) or str(exc)
    return HTTPError(status, error_page(status, message))


class Route:
    """A registered route. Read its attributes; do not change them.

    Attributes:
        pattern: the path pattern, e.g. ``"/users/<int:id>"``.
        handler: the function called for it.
        methods: the HTTP methods it answers, or ``None`` for any.
        websocket: whether it answers WebSocket upgrades.
        websocket_only: whether it answers only WebSocket upgrades (plain
            HTTP gets 426 Upgrade Required).
        style: how the handler is called: ``"wsgi"``, ``"request"``,
            ``"params"`` or ``"websocket"``.
        invoke: calls the handler in that style, as
            ``invoke(environ, start_response, params)``.
        name: the name :meth:`WSocketApp.url_for` knows it by.
        websocket_options: the options of its WebSocket handshake and
            connection (the app's, overridden by the route's).
        middleware: the :class:`~wsocket.middleware.WebSocketMiddleware`
            that answers its upgrades, or ``None``.
    """

    __slots__ = (
        "pattern",
        "handler",
        "methods",
        "websocket",
        "websocket_only",
        "style",
        "invoke",
        "websocket_options",
        "middleware",
        "name",
    )

    def __init__(
        self,
        pattern: str,
        handler: Handler,
        methods: Optional[FrozenSet[str]],
        websocket: bool,
        websocket_only: bool,
        style: str,
        websocket_options: Dict[str, Any],
    ) -> None:
        self.pattern = pattern
        self.handler = handler
        self.methods = methods
        self.websocket = websocket
        self.websocket_only = websocket_only
        self.style = style
        self.invoke = _invoker(handler, style)
        self.websocket_options = websocket_options
        self.middleware: Optional[WebSocketMiddleware] = None
        self.name = ""

    def accepts(self, method: str) -> bool:
        """Tell whether the route answers HTTP ``method``."""
        return self.methods is None or method in self.methods

    def __repr__(self) -> str:
        methods = "*" if self.methods is None else ",".join(sorted(self.methods))
        kind = " websocket" if self.websocket else ""
        return f"<Route {methods} {self.pattern!r}{kind} -> {_describe(self.handler)}>"


class EventHook:
    """The callbacks of one WebSocket event, called in the order added.

    ``app.onmessage += f`` adds ``f``, ``app.onmessage -= f`` removes it,
    and ``app.onmessage = f`` replaces every callback with ``f``.
    """

    def __init__(self, name: str, handlers: Iterable[Handler] = ()) -> None:
        self.name = name
        self._handlers: List[Handler] = []
        for handler in handlers:
            self.add(handler)

    def add(self, handler: Handler) -> None:
        """Add a callback.

        Raises:
            TypeError: ``handler`` is not callable.
        """
        if not callable(handler):
            raise TypeError(f"{self.name} callbacks must be callable, not {handler!r}")
        self._handlers.append(handler)

    def __iadd__(self, handler: Handler) -> EventHook:
        self.add(handler)
        return self

    def __isub__(self, handler: Handler) -> EventHook:
        self._handlers.remove(handler)
        return self

    def __call__(self, *args: Any) -> None:
        """Call every callback with ``args``."""
        for handler in list(self._handlers):
            handler(*args)

    def __len__(self) -> int:
        return len(self._handlers)

    def __iter__(self) -> Iterator[Handler]:
        return iter(list(self._handlers))

    def __repr__(self) -> str:
        return f"<EventHook {self.name} {self._handlers!r}>"


class _StartResponse:
    """The forgiving ``start_response`` given to WSGI-style handlers.

    It accepts any status and header form :func:`~wsocket.responses.to_wsgi`
    does, checks them at once (so that a mistake raises in the handler, at
    the faulty line), and sends nothing until the handler's body is known,
    unless the handler calls the ``write()`` it returned.
    """

    __slots__ = ("start_response", "status", "headers", "called", "sent", "_write")

    def __init__(self, start_response: Callable[..., Any]) -> None:
        self.start_response = start_response
        self.status = "200 OK"
        self.headers: List[Tuple[str, str]] = []
        self.called = False
        self.sent = False
        self._write: Optional[Callable[[bytes], Any]] = None

    def __call__(
        self, status: StatusLike = 200, headers: Any = None, exc_info: Any = None
    ) -> Callable[[Any], None]:
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.sent:
            raise RuntimeError(
                "start_response() called after the response started; pass "
                "exc_info to report an error"
            )
        self.status = status_line(status)
        self.headers = header_list(headers)
        self.called = True
        return self.write

    def write(self, data: Any) -> None:
        """Send ``data`` now, with the status and headers given so far."""
        if self._write is None:
            headers = list(self.headers)
            code = int(self.status[:3])
            if (
                code >= 200
                and code not in (204, 304)
                and not any(name.lower() == "content-type" for name, _ in headers)
            ):
                headers.append(("Content-Type", DEFAULT_CONTENT_TYPE))
            self._write = self.start_response(self.status, headers)
            self.sent = True
        assert self._write is not None
        self._write(_chunk(data))


class _SessionStart:
    """``start_response`` for a WSGI-style handler during a WebSocket session.

    The 101 is on the wire already: only the status matters, because the
    middleware picks the close code from it (1008 for 4xx, 1011 for 5xx).
    """

    __slots__ = ("start_response",)

    def __init__(self, start_response: Callable[..., Any]) -> None:
        self.start_response = start_response

    def __call__(
        self, status: StatusLike = 200, headers: Any = None, exc_info: Any = None
    ) -> Callable[[Any], None]:
        try:
            line = status_line(status)
        except ValueError:
            logger.exception("invalid status from a WebSocket handler")
            line = "500 Internal Server Error"
        self.start_response(line, [])
        return _ignore


def _ignore(data: Any) -> None:
    return None


def _lazy(result: Any) -> bool:
    """Tell whether a WSGI handler's result may still call start_response."""
    return not (
        result is None
        or isinstance(result, (list, tuple, str, bytes, bytearray, memoryview))
        or isinstance(result, Response)
        or hasattr(result, "read")
    )


class _ErrorHandler:
    """An error page handler; ``invoke`` gets ``{"error": error}``."""

    __slots__ = ("handler", "style", "invoke")

    def __init__(self, handler: Handler, style: str, error_arg: str) -> None:
        self.handler = handler
        self.style = style
        # error_arg: "keyword": error=..., "positional": handler(error),
        # "": the handler does not take the error.
        base = _invoker(handler, style)

        def positional(environ: Dict[str, Any], start: Any, kw: Dict[str, Any]) -> Any:
            return handler(kw["error"])

        def without(environ: Dict[str, Any], start: Any, kw: Dict[str, Any]) -> Any:
            return base(environ, start, {})

        self.invoke: Invoker = {"positional": positional, "keyword": base}.get(
            error_arg, without
        )


class WSocketApp:
    """A WSGI application with HTTP and WebSocket routes.

    A bare ``WSocketApp()`` is a WebSocket echo server: WebSocket requests
    that match no route go to the event callbacks (:attr:`onconnect`,
    :attr:`onmessage`, :attr:`onclose`), which echo messages back when none
    is set.

    Args:
        app: a WSGI application that serves what matches no route or mount
            (WebSocket upgrades included), e.g. the Flask app you had.
        protocol: a subprotocol (or several) to offer WebSocket clients, as
            in ``WSocketApp(protocol="WAMP")``; added to ``subprotocols``.
        debug: show tracebacks on 500 pages. Never in production: a
            traceback tells an attacker about your code.
        **websocket_options: options for every WebSocket route, the keyword
            arguments of :class:`~wsocket.middleware.WebSocketMiddleware`
            (``subprotocols``, ``origins``, ``check_origin``,
            ``compression``, ``max_message_size``, ``ping_interval``,
            ``ping_timeout``, ``close_timeout``). Routes may override them.

    Raises:
        TypeError: for an unknown option.
        ValueError: for an invalid option value.
    """

    #: Read by :func:`wsocket.middleware.handles_websockets`: the app answers
    #: upgrades itself, route by route.
    wsocket_upgrades = True
    #: The GUID of the ``Sec-WebSocket-Accept`` computation (RFC 6455 1.3).
    GUID = GUID
    #: The ``Sec-WebSocket-Version`` values accepted, newest first.
    SUPPORTED_VERSIONS = SUPPORTED_VERSIONS
    #: The class of the sockets handlers get.
    websocket_class = WebSocket

    def __init__(
        self,
        app: Optional[Callable[..., Any]] = None,
        protocol: Union[None, str, Sequence[str]] = None,
        debug: bool = False,
        **websocket_options: Any,
    ) -> None:
        if app is not None and not callable(app):
            raise TypeError(
                f"WSocketApp(app=...) must be a WSGI callable, not {type(app).__name__}"
            )
        if protocol is not None:
            offered = (protocol,) if isinstance(protocol, str) else tuple(protocol)
            websocket_options["subprotocols"] = tuple(
                websocket_options.get("subprotocols", ())
            ) + tuple(
                p for p in offered if p not in websocket_options.get("subprotocols", ())
            )
        _check_options(websocket_options, "WSocketApp()")
        self.debug = debug
        #: The WebSocket options of the app, merged into each route's.
        self.websocket_options: Dict[str, Any] = dict(websocket_options)
        #: The router; add converters with ``app.router.add_converter()``.
        self.router = Router()
        #: The routes, in the order they were registered.
        self.routes: List[Route] = []
        self._error_handlers: Dict[int, _ErrorHandler] = {}
        self._onconnect = EventHook("onconnect")
        self._onmessage = EventHook("onmessage")
        self._onclose = EventHook("onclose")
        # Unrouted sockets: the callbacks above, served as raw messages by
        # the machinery of app.events().
        self._raw = Events(format=RawMessages(), **websocket_options)
        self._raw.on("message")(self._on_raw_message)
        self._raw.on_connect(self._on_raw_connect)
        self._raw.on_disconnect(self._on_raw_disconnect)
        # (path, method) and (path, "websocket") claims -> (route, implicit).
        self._taken: Dict[Tuple[str, str], Tuple[Route, bool]] = {}
        self._names: Dict[str, List[Route]] = {}
        # The route serving wsocket.js that events() added, until the app's own.
        self._client_js: Optional[Route] = None
        # (prefix as in PATH_INFO, app), longest prefix first.
        self._mounts: List[Tuple[str, Callable[..., Any]]] = []
        self._script_name: contextvars.ContextVar[str] = contextvars.ContextVar(
            "wsocket_script_name", default=""
        )
        #: The application serving what no route or mount matches, if any.
        self.app: Optional[Callable[..., Any]] = (
            None if app is None else self._websocket_capable(app)
        )

    def __repr__(self) -> str:
        return f"<WSocketApp {len(self.routes)} routes>"

    # -- registration -------------------------------------------------------------

    def route(
        self,
        path: str,
        methods: Union[None, str, Iterable[str]] = None,
        *,
        websocket: Optional[bool] = None,
        name: Optional[str] = None,
        **websocket_options: Any,
    ) -> Callable[[H], H]:
        """Register the decorated function as the handler of ``path``.

        The handler's signature says how it is called:

        - ``def h(environ, start_response, **params)`` (first parameter named
          ``environ``): a WSGI application, with a forgiving
          ``start_response`` (see :func:`~wsocket.responses.to_wsgi` for the
          status and header forms it accepts);
        - ``def h(request, **params)`` (first parameter named ``request`` or
          annotated ``Request``): gets a :class:`wsocket.request.Request`;
        - ``def h(**params)``, ``def h(name)``, ``def h()``: gets the path
          parameters only.

        The path parameters are also in ``environ["wsgiorg.routing_args"]``.
        What the handler returns is the response (see
        :func:`~wsocket.responses.to_wsgi`).

        Args:
            path: the path pattern (see :mod:`wsocket.routing`).
            methods: the HTTP methods answered: ``None`` for ``GET`` (``HEAD``
                and ``OPTIONS`` are answered automatically), a name, a list
                of names, or ``"*"`` for any method.
            websocket: answer WebSocket upgrades too: the handler then finds
                the open connection in ``environ["wsgi.websocket"]`` (or
                ``request.environ``). The default is ``True`` for handlers
                that get the environ or a request, ``False`` for the others,
                which could not reach the connection, and for a path that has
                a WebSocket route of its own. A route that does not answer
                upgrades serves them as plain HTTP requests.
            name: the name :meth:`url_for` knows the route by; the
                function's name by default.
            **websocket_options: WebSocket options for this route, overriding
                the app's (see :class:`WSocketApp`).

        Returns:
            A decorator that registers the function and returns it unchanged.

        Raises:
            ValueError: for an invalid pattern or method, a (method, path)
                or WebSocket path registered already, or a name taken by
                another handler.
            TypeError: for an unknown option, or a handler whose signature
                cannot take the path parameters.
        """

        def decorator(handler: H) -> H:
            self.add_route(
                path,
                handler,
                methods,
                websocket=websocket,
                name=name,
                **websocket_options,
            )
            return handler

        return decorator

    def add_route(
        self,
        path: str,
        handler: Handler,
        methods: Union[None, str, Iterable[str]] = None,
        *,
        websocket: Optional[bool] = None,
        name: Optional[str] = None,
        **websocket_options: Any,
    ) -> Route:
        """Register ``handler`` for ``path``; the same as :meth:`route`.

        Returns:
            The new route.

        Raises:
            ValueError: for an invalid pattern or method, or
                ``websocket=True`` with a handler that takes path parameters
                only.
            TypeError: for an unknown option, or a handler whose signature
                cannot take the path parameters.
        """
        if not callable(handler):
            raise TypeError(f"the handler of {path!r} must be callable")
        style = calling_style(handler)
        method_set = _normalize_methods(methods)
        implicit = websocket is None
        if websocket is None:
            # Pages that get the environ or a request answer upgrades too,
            # unless the path has its WebSocket route already.
            websocket = (
                style != PARAMS
                and (method_set is None or "GET" in method_set)
                and (path, "websocket") not in self._taken
            )
        elif websocket and style == PARAMS:
            raise ValueError(
                f"{_describe(handler)}() takes path parameters only, so it "
                f"cannot reach the WebSocket of {path!r}: take environ or "
                "request first, or register it with @app.websocket()"
            )
        return self._add(
            path,
            handler,
            method_set,
            style,
            websocket,
            False,
            websocket_options,
            name,
            implicit,
        )

    def websocket(
        self, path: str, *, name: Optional[str] = None, **websocket_options: Any
    ) -> Callable[[H], H]:
        """Register the decorated function as the WebSocket handler of ``path``.

        The handler is called as ``handler(ws, **params)`` with the open
        :class:`~wsocket.connection.WebSocket`; the connection is closed
        with 1000 when it returns, or 1011 if it raises. A plain HTTP
        request to ``path`` gets ``426 Upgrade Required``.

        Args:
            path: the path pattern (see :mod:`wsocket.routing`).
            name: the name :meth:`url_for` knows the route by; the
                function's name by default.
            **websocket_options: WebSocket options for this route
                (``subprotocols``, ``max_message_size``, ``compression``,
                ``origins``, ``ping_interval``...), overriding the app's.

        Returns:
            A decorator that registers the function and returns it unchanged.

        Raises:
            ValueError: for an invalid pattern or option value, or a path
                that has a WebSocket route already.
            TypeError: for an unknown option, or a handler whose signature
                cannot take the path parameters.
        """

        def decorator(handler: H) -> H:
            self.add_websocket(path, handler, name=name, **websocket_options)
            return handler

        return decorator

    def add_websocket(
        self,
        path: str,
        handler: Handler,
        *,
        name: Optional[str] = None,
        **websocket_options: Any,
    ) -> Route:
        """Register ``handler`` for WebSockets on ``path``; see :meth:`websocket`.

        Returns:
            The new route.

        Raises:
            ValueError: for an invalid pattern or option value.
            TypeError: for an unknown option, or a handler whose signature
                cannot take the path parameters.
        """
        if not callable(handler):
            raise TypeError(f"the handler of {path!r} must be callable")
        return self._add(
            path,
            handler,
            frozenset(("GET",)),
            SOCKET,
            True,
            True,
            websocket_options,
            name,
        )

    def _add(
        self,
        path: str,
        handler: Handler,
        methods: Optional[FrozenSet[str]],
        style: str,
        websocket: bool,
        websocket_only: bool,
        websocket_options: Dict[str, Any],
        name: Optional[str] = None,
        implicit: bool = False,
    ) -> Route:
        _check_options(websocket_options, f"route {path!r}")
        if path == CLIENT_JS_PATH and self._client_js is not None:
            self._remove(self._client_js)  # the app's own route wins
            self._client_js = None
        options = {**self.websocket_options, **websocket_options}
        route = Route(path, handler, methods, websocket, websocket_only, style, options)
        route.name = name or getattr(handler, "__name__", None) or _describe(handler)
        if name is not None:
            for named in self._names.get(name, ()):
                if named.handler is not handler:
                    raise ValueError(
                        f"route name {name!r} is taken by {_describe(named.handler)}"
                        f"() ({named.pattern!r}); pick another name for "
                        f"{_describe(handler)}()"
                    )
        keys = self._keys(route)
        for key in keys:
            claim = self._taken.get(key)
            if claim is not None and not (key[1] == "websocket" and claim[1]):
                raise ValueError(
                    f"{_key_text(key)} is registered twice: by "
                    f"{_describe(claim[0].handler)}() and by "
                    f"{_describe(handler)}(); remove one, or give them "
                    "different paths or methods"
                )
        if websocket:
            route.middleware = WebSocketMiddleware(
                functools.partial(self._websocket_session, route), **options
            )
        rule = self.router.add(path, route, methods=methods, websocket=websocket)
        leading = {WSGI: 2, REQUEST: 1, SOCKET: 1}.get(style, 0)
        try:
            _check_binds(
                handler,
                leading,
                rule.names,
                f"route {path!r}",
                _call_form(style, rule.names),
            )
        except TypeError:
            self.router.remove(rule)
            raise
        for key in keys:
            previous = self._taken.get(key)
            if previous is not None:
                # An explicit WebSocket route takes upgrades over from a
                # page that only answered them by default.
                self._demote(previous[0])
            self._taken[key] = (route, implicit and key[1] == "websocket")
        self._names.setdefault(route.name, []).append(route)
        self.routes.append(route)
        return route

    @staticmethod
    def _keys(route: Route) -> List[Tuple[str, str]]:
        """What a route claims: (path, method) pairs and (path, "websocket")."""
        keys: List[Tuple[str, str]] = []
        if not route.websocket_only:
            methods = sorted(route.methods) if route.methods is not None else ["*"]
            keys.extend((route.pattern, method) for method in methods)
        if route.websocket:
            keys.append((route.pattern, "websocket"))
        return keys

    def _remove(self, route: Route) -> None:
        """Unregister a route entirely."""
        for rule in [r for r in self.router.rules if r.target is route]:
            self.router.remove(rule)
        self.routes.remove(route)
        for key in self._keys(route):
            if self._taken.get(key, (None,))[0] is route:
                del self._taken[key]
        named = self._names.get(route.name, [])
        if route in named:
            named.remove(route)

    def _demote(self, route: Route) -> None:
        """Stop a route from answering upgrades (it keeps its HTTP methods)."""
        route.websocket = False
        route.middleware = None
        for rule in self.router.rules:
            if rule.target is route:
                rule.websocket = False

    def url_for(self, name: str, /, **params: Any) -> str:
        """Build the URL of the route called ``name``.

        Path parameters fill the pattern; other keywords become the query
        string. A wildcard route takes the rest of its path as ``_rest``.
        The URL starts with the ``SCRIPT_NAME`` of the request being served,
        so it stays right when the app is mounted under a prefix.

        Example::

            @app.route("/users/<int:id>", name="user")
            def user(id): ...

            app.url_for("user", id=7, tab="posts")   # "/users/7?tab=posts"

        Raises:
            BuildError: no route has that name, or none takes those
                parameters.
        """
        routes = self._names.get(name)
        if not routes:
            known = ", ".join(sorted(self._names)) or "none"
            raise BuildError(f"no route is named {name!r} (names: {known})")
        rest = str(params.pop("_rest", ""))
        problems = []
        for route in routes:
            try:
                path = build_path(route.pattern, params, self.router.converters)
            except BuildError as exc:
                problems.append(str(exc))
                continue
            if route.pattern.endswith("*"):
                path += urllib.parse.quote(rest)
            used = set(_PARAM_NAMES.findall(route.pattern))
            query = [(k, v) for k, v in params.items() if k not in used]
            url = self._script_name.get() + path
            if query:
                url += "?" + urllib.parse.urlencode(query, doseq=True)
            return url
        raise BuildError("; ".join(problems))

    def mount(self, prefix: str, app: Callable[..., Any]) -> None:
        """Serve every path under ``prefix`` with another WSGI application.

        The mounted app sees the prefix moved from ``PATH_INFO`` to
        ``SCRIPT_NAME`` (PEP 3333): mounted at ``/blog``, a request for
        ``/blog/posts/1`` reaches it as ``SCRIPT_NAME="/blog"``,
        ``PATH_INFO="/posts/1"``. It may be another :class:`WSocketApp`, a
        Flask or Django app, any WSGI callable; an app that does not answer
        WebSocket upgrades itself is wrapped in a
        :class:`~wsocket.middleware.WebSocketMiddleware` with this app's
        options, so it finds sockets in ``environ["wsgi.websocket"]``.

        Mounts come after this app's own routes (wildcards included), the
        longest prefix first.

        Raises:
            ValueError: for a prefix that is not ``/name...`` or is mounted
                already (use ``app=`` of :class:`WSocketApp` for ``/``).
            TypeError: ``app`` is not callable.
        """
        if not callable(app):
            raise TypeError(f"mount({prefix!r}, app): app must be a WSGI callable")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ValueError(f"mount prefix {prefix!r} must start with '/'")
        prefix = prefix.rstrip("/")
        if not prefix:
            raise ValueError(
                "mount prefix '/' would take every path: pass the app as "
                "WSocketApp(app=...) to serve what no route matches"
            )
        # PATH_INFO holds the path's bytes as Latin-1 (PEP 3333).
        raw = prefix.encode("utf-8").decode("latin-1")
        if any(mounted == raw for mounted, _ in self._mounts):
            raise ValueError(f"{prefix!r} is mounted already")
        self._mounts.append((raw, self._websocket_capable(app)))
        self._mounts.sort(key=lambda item: -len(item[0]))

    def _websocket_capable(self, app: Callable[..., Any]) -> Callable[..., Any]:
        if handles_websockets(app):
            return app
        return WebSocketMiddleware(app, **self.websocket_options)

    def error(self, status: StatusLike) -> Callable[[H], H]:
        """Register the decorated function as the page for error ``status``.

        It is called for an :class:`~wsocket.responses.HTTPError` of that
        status, whether the app raised it (404, 405, 426, 500 after an
        exception) or a handler raised or returned it. It follows the
        calling conventions of :meth:`route`, and gets the error as the
        ``error`` argument when it has a parameter of that name (a handler
        with one parameter, not ``environ`` or ``request``, gets it too).
        What it returns is sent with the error's status, unless it chooses
        one; the error's other headers (``Allow``, ``Upgrade``) are kept.
        The error is also in ``environ["wsocket.error"]``.

        Example::

            @app.error(404)
            def not_found(error):
                return "<h1>Nothing here</h1>"

        Returns:
            A decorator that registers the function and returns it unchanged.

        Raises:
            ValueError: for an invalid status.
            TypeError: for a handler whose signature does not fit.
        """
        code = int(status_line(status)[:3])

        def decorator(handler: H) -> H:
            style = calling_style(handler)
            sig = _signature(handler)
            names = sig.parameters if sig is not None else {}
            takes_kwargs = any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in names.values()
            )
            positional = _positional(sig)
            if "error" in names or takes_kwargs:
                error_arg = "keyword"
            elif style == PARAMS and len(positional) == 1:
                error_arg = "positional"
            else:
                error_arg = ""
            leading = {WSGI: 2, REQUEST: 1}.get(style, 0)
            if error_arg == "positional":
                leading = 1
            _check_binds(
                handler,
                leading,
                ["error"] if error_arg == "keyword" else [],
                f"error {code}",
                "an error handler",
            )
            self._error_handlers[code] = _ErrorHandler(handler, style, error_arg)
            return handler

        return decorator

    def static(self, prefix: str, directory: str) -> Route:
        """Serve the files of ``directory`` under the URL ``prefix``.

        ``app.static("/static", "public")`` serves ``public/css/site.css`` at
        ``/static/css/site.css``, with content types, ``ETag`` and
        ``Last-Modified`` validation, ranges and ``HEAD``; a path that leaves
        the directory gets a 404 (see :mod:`wsocket.static`).

        Returns:
            The new route (``GET`` on ``prefix + "/*"``).
        """
        prefix = prefix.rstrip("/")
        skip = len(prefix) + 1

        def serve(environ: Dict[str, Any], start_response: Any) -> Any:
            from .static import serve_static

            response = serve_static(environ, directory, _route_path(environ)[skip:])
            return response(environ, start_response)

        serve.__qualname__ = serve.__name__ = f"static[{directory}]"
        return self.add_route(prefix + "/*", serve, "GET", websocket=False)

    def events(self, path: str, **options: Any) -> Events:
        """Serve events and calls (JSON-RPC 2.0) on ``path``; return the endpoint.

        Example::

            events = app.events("/ws")

            @events.on("chat.say")
            def say(conn, params):
                events.broadcast("chat.said", params)

        Args:
            path: the path pattern (see :mod:`wsocket.routing`).
            **options: options of :class:`~wsocket.realtime.Events` (its own,
                and WebSocket options that override the app's). ``debug``
                defaults to the app's.

        The first call also serves the browser client, ``wsocket.js``, at
        ``/wsocket.js`` (see :doc:`/howto/js-client`), unless the app has a
        route of its own at that path (registered before or after).

        Returns:
            The :class:`~wsocket.realtime.Events` object, for its decorators.
        """
        options.setdefault("debug", self.debug)
        endpoint = Events(**{**self.websocket_options, **options})
        # Registered as a plain route: the endpoint answers the handshake
        # itself, after its authorize hooks, so that they can refuse with 401.
        self.add_route(path, endpoint, "GET", websocket=False)
        if self._client_js is None and not any(
            route.pattern == CLIENT_JS_PATH for route in self.routes
        ):
            # The browser client; a route of the app's own at that path,
            # registered before or after, takes precedence.
            self._client_js = self.add_route(
                CLIENT_JS_PATH, serve_client_js, "GET", websocket=False
            )
        return endpoint

    # -- events -------------------------------------------------------------------

    @property
    def onconnect(self) -> EventHook:
        """Called as ``f(ws)`` when a WebSocket that matched no route opens."""
        return self._onconnect

    @onconnect.setter
    def onconnect(self, value: Union[EventHook, Handler, None]) -> None:
        self._onconnect = self._hook("onconnect", value)

    @property
    def onmessage(self) -> EventHook:
        """Called as ``f(message, ws)`` for each message of such a WebSocket."""
        return self._onmessage

    @onmessage.setter
    def onmessage(self, value: Union[EventHook, Handler, None]) -> None:
        self._onmessage = self._hook("onmessage", value)

    @property
    def onclose(self) -> EventHook:
        """Called as ``f(ws)`` when such a WebSocket has closed."""
        return self._onclose

    @onclose.setter
    def onclose(self, value: Union[EventHook, Handler, None]) -> None:
        self._onclose = self._hook("onclose", value)

    @staticmethod
    def _hook(name: str, value: Union[EventHook, Handler, None]) -> EventHook:
        if isinstance(value, EventHook):
            return value
        if value is None:
            return EventHook(name)
        return EventHook(name, [value])

    def _events_enabled(self) -> bool:
        return bool(
            self._onconnect or self._onmessage or self._onclose or not self.routes
        )

    def _hooked(self) -> bool:
        return bool(self._onconnect or self._onmessage or self._onclose)

    def _on_raw_connect(self, conn: Connection) -> None:
        self._call_hook(self._onconnect, conn, conn.websocket)

    def _on_raw_message(self, conn: Connection, message: Any) -> None:
        if not self._hooked():
            conn.websocket.send(message)  # a bare app echoes
            return
        self._call_hook(self._onmessage, conn, message, conn.websocket)

    def _on_raw_disconnect(self, conn: Connection) -> None:
        try:
            self._onclose(conn.websocket)
        except Exception:
            logger.exception("error in an onclose callback")

    def _call_hook(self, hook: EventHook, conn: Connection, *args: Any) -> None:
        try:
            hook(*args)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception(
                "error in a WebSocket event callback (%s) for %s",
                hook.name,
                _shown(_route_path(conn.websocket.environ)),
            )
            conn.websocket.close(1011)

    # -- serving ------------------------------------------------------------------

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        server: str = "auto",
        **options: Any,
    ) -> None:
        """Serve the app with :func:`wsocket.run` until Ctrl-C or SIGTERM.

        Args:
            host: address to bind.
            port: port to bind; ``0`` picks a free one.
            server: ``"auto"``, ``"gevent"`` or ``"threading"``.
            **options: passed to :func:`wsocket.run` (``quiet``, ``grace``,
                ``max_connections``...).
        """
        from .server import run

        run(self, host, port, server, **options)

    def __call__(
        self, environ: Dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Serve one request (the WSGI entry point)."""
        method = environ.get("REQUEST_METHOD", "GET")
        path = _route_path(environ)
        session = "wsgi.websocket" in environ  # upgraded by an outer middleware
        wants_ws = session or (method == "GET" and is_upgrade_request(environ))
        script = environ.get("SCRIPT_NAME", "")
        if script != self._script_name.get():
            self._script_name.set(script)
        try:
            rule, params = self.router.match(path, method, websocket=wants_ws)
        except NoMatch as missing:
            if missing.allowed:
                return self._no_route(missing, method, environ, start_response)
            return self._unrouted(missing, wants_ws, session, environ, start_response)
        route: Route = rule.target
        environ["wsgiorg.routing_args"] = ((), params)
        if wants_ws and route.websocket:
            if session:
                return self._websocket_session(route, environ, start_response)
            assert route.middleware is not None
            return route.middleware(environ, start_response)
        return self._serve(route, params, environ, start_response)

    def _unrouted(
        self,
        missing: NoMatch,
        wants_ws: bool,
        session: bool,
        environ: Dict[str, Any],
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        """Serve a path no route matched: mounts, ``app=``, hooks, then 404."""
        if self._mounts:
            raw = environ.get("PATH_INFO") or "/"
            for prefix, app in self._mounts:
                if raw == prefix or raw.startswith(prefix + "/"):
                    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                    environ["PATH_INFO"] = raw[len(prefix) :]
                    return app(environ, start_response)  # type: ignore[no-any-return]
        if self.app is not None:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        if wants_ws and self._events_enabled():
            return self._raw(environ, start_response)
        return self._no_route(missing, "GET", environ, start_response)

    def _no_route(
        self,
        missing: NoMatch,
        method: str,
        environ: Dict[str, Any],
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        path = _shown(missing.path)
        if not missing.allowed:
            error = HTTPError(404, error_page(404, f"No page or WebSocket at {path}."))
            return self._error(error, environ, start_response)
        allowed = set(missing.allowed)
        if "GET" in allowed:
            allowed.add("HEAD")
        allowed.add("OPTIONS")
        allow = ", ".join(sorted(allowed))
        if method == "OPTIONS":
            start_response("204 No Content", [("Allow", allow)])
            return []
        error = HTTPError(
            405,
            error_page(405, f"{method} is not allowed at {path}; allowed: {allow}."),
            [("Allow", allow)],
        )
        return self._error(error, environ, start_response)

    def _serve(
        self,
        route: Route,
        params: Dict[str, Any],
        environ: Dict[str, Any],
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        pending = _StartResponse(start_response) if route.style == WSGI else None
        try:
            result = route.invoke(environ, pending, params)
            if pending is not None:
                if result is None and not pending.called:
                    logger.error(
                        "handler %s for %s %s returned None without calling "
                        "start_response(): return the body (a str, bytes or "
                        "a list of them) after calling start_response()",
                        _describe(route.handler),
                        environ.get("REQUEST_METHOD", "GET"),
                        _shown(_route_path(environ)),
                    )
                    return self._internal_error(None, environ, start_response)
                return self._finish_wsgi(result, pending, environ, start_response)
            return self._respond(result, environ, start_response, None)
        except HTTPError as error:
            if pending is not None and pending.sent:
                raise
            return self._error(error, environ, start_response)
        except Exception as exc:
            client_error = _client_error(exc)
            if client_error is not None and not (pending is not None and pending.sent):
                return self._error(client_error, environ, start_response)
            if pending is not None and pending.sent:
                logger.exception(
                    "error in handler %s for %s after the response started; "
                    "the response is cut short",
                    _describe(route.handler),
                    _shown(_route_path(environ)),
                )
                raise
            logger.exception(
                "error in handler %s for %s %s",
                _describe(route.handler),
                environ.get("REQUEST_METHOD", "GET"),
                _shown(_route_path(environ)),
            )
            return self._internal_error(exc, environ, start_response)

    def _finish_wsgi(
        self,
        result: Any,
        pending: _StartResponse,
        environ: Dict[str, Any],
        start_response: Callable[..., Any],
        error: Optional[HTTPError] = None,
    ) -> Iterable[bytes]:
        if not pending.called and not pending.sent and _lazy(result):
            # A generator may call start_response when first advanced.
            result = _body(result, environ)[0]
        if pending.sent:
            return _body(result, environ)[0]
        if pending.called and not isinstance(result, Response):
            result = Response(result, pending.status, pending.headers)
        return self._respond(result, environ, start_response, error)

    def _respond(
        self,
        result: Any,
        environ: Dict[str, Any],
        start_response: Callable[..., Any],
        error: Optional[HTTPError],
    ) -> Iterable[bytes]:
        """Send a handler's result; ``error`` is set for an error handler's."""
        if error is None:
            if isinstance(result, HTTPError):
                return self._error(result, environ, start_response)
            return to_wsgi(result, environ, start_response)
        if isinstance(result, Response):
            status, headers, body = result.status, result.headers, result.body
        else:
            status, headers, body = error.status, [], result
        if int(status[:3]) == error.status_code:
            # Keep what the error says about the request (Allow, Upgrade).
            present = {name.lower() for name, _ in headers}
            headers = list(headers) + [
                (name, value)
                for name, value in error.headers
                if name.lower() not in present and name.lower() not in _NOT_MERGED
            ]
        return to_wsgi(body, environ, start_response, status, headers)

    def _internal_error(
        self,
        exc: Optional[BaseException],
        environ: Dict[str, Any],
        start_response: Any,
    ) -> Iterable[bytes]:
        formatted = traceback.format_exc() if exc is not None else ""
        detail = formatted if self.debug else ""
        error = HTTPError(
            500,
            error_page(
                500,
                "The server met an unexpected error and could not answer.",
                detail=detail,
            ),
            exception=exc,
            traceback=formatted,
        )
        return self._error(error, environ, start_response)

    def _error(
        self, error: HTTPError, environ: Dict[str, Any], start_response: Any
    ) -> Iterable[bytes]:
        handler = self._error_handlers.get(error.status_code)
        if handler is not None:
            try:
                return self._call_error_handler(handler, error, environ, start_response)
            except Exception:
                logger.exception(
                    "error in the error handler %s for %s",
                    _describe(handler.handler),
                    error.status,
                )
        return to_wsgi(error, environ, start_response)

    def _call_error_handler(
        self,
        handler: _ErrorHandler,
        error: HTTPError,
        environ: Dict[str, Any],
        start_response: Any,
    ) -> Iterable[bytes]:
        environ["wsocket.error"] = error
        pending = _StartResponse(start_response) if handler.style == WSGI else None
        result = handler.invoke(environ, pending, {"error": error})
        if pending is not None:
            return self._finish_wsgi(result, pending, environ, start_response, error)
        return self._respond(result, environ, start_response, error)

    # -- WebSocket sessions -------------------------------------------------------

    def _websocket_session(
        self, route: Route, environ: Dict[str, Any], start_response: Any
    ) -> Iterable[bytes]:
        """Run a route's handler on an open WebSocket (the middleware's app)."""
        params = environ.get("wsgiorg.routing_args", ((), {}))[1]
        start = _SessionStart(start_response) if route.style == WSGI else None
        ws = environ["wsgi.websocket"]
        try:
            if self._onconnect:
                self._onconnect(ws)
            result = route.invoke(environ, start, params)
            if isinstance(result, Response):
                start_response(result.status, [])
            elif _lazy(result):
                # A generator may run the whole session.
                try:
                    for _ in result:
                        pass
                finally:
                    _close(result)
        except ConnectionClosed:
            pass  # the client went away: a normal end for a handler
        except HTTPError as error:
            start_response(error.status, [])
        except Exception:
            logger.exception(
                "error in WebSocket handler %s for %s",
                _describe(route.handler),
                _shown(_route_path(environ)),
            )
            start_response("500 Internal Server Error", [])
        finally:
            if self._onclose:
                try:
                    self._onclose(ws)
                except Exception:
                    logger.exception("error in an onclose callback")
        return []
