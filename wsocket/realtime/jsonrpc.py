"""The wire format of the real-time layer: JSON-RPC 2.0, and the format hook.

Strategy: a :class:`Format` turns each WebSocket message into a list of
items, and items back into messages. The items are the same whatever the
format:

- :class:`Call`: a method called by the peer, with or without an id (an
  event, which gets no reply, has none);
- :class:`Reply`: the answer to a call, ours or the peer's;
- :class:`Invalid`: something that could not be understood, answered with
  the error it carries.

:class:`JSONRPC` is the default format, :data:`JSON_RPC` its instance.
Another format subclasses :class:`Format` and overrides the methods of the
shapes it speaks. Decoding never raises: every input, however malformed,
becomes items, so that nothing a client sends can break its connection.

Limits: JSON nested deeper than ``max_depth`` is refused before it is
parsed (Python's parser would recurse once per level), and a batch longer
than ``max_batch`` is refused whole; both with -32600.
"""

from __future__ import annotations

import json
import re
from typing import Any, List, NamedTuple, Optional, Sequence, Union

__all__ = [
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "RPCError",
    "Call",
    "Reply",
    "Invalid",
    "Decoded",
    "Format",
    "JSONRPC",
    "JSON_RPC",
    "RawMessages",
    "NO_ID",
    "nesting_depth",
]

#: Invalid JSON was received.
PARSE_ERROR = -32700
#: The JSON sent is not a valid request object.
INVALID_REQUEST = -32600
#: The method does not exist or is not available.
METHOD_NOT_FOUND = -32601
#: Invalid method parameters (raised by handlers, never guessed).
INVALID_PARAMS = -32602
#: Any other error while handling the call.
INTERNAL_ERROR = -32603

_MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
}


class RPCError(Exception):
    """An error reply: raise it in a handler to answer a call with it.

    ``conn.call()`` raises it too when the peer answers with an error.

    Args:
        code: an integer; -32768 to -32000 are reserved by JSON-RPC (the
            constants of this module), other values are the application's.
        message: a short description.
        data: any JSON value with more detail, or ``None``.
    """

    def __init__(self, code: int, message: str = "", data: Any = None) -> None:
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError("RPCError code must be an integer")
        message = message or _MESSAGES.get(code, "Server error")
        super().__init__(code, message, data)
        self.code = code
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return f"{self.code} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-RPC error object."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class _NoId:
    """The id of a call that expects no reply (an event)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_ID"

    def __reduce__(self) -> str:
        return "NO_ID"


#: The :attr:`Call.id` of an event: a call that gets no reply.
NO_ID: Any = _NoId()


class Call:
    """A method called by the peer: a call if it has an id, else an event.

    Attributes:
        method: the method name.
        params: exactly what the peer sent: a dict, a list, or ``None``
            when absent (other formats may pass any value).
        id: the id to reply with, or :data:`NO_ID` for an event.
    """

    __slots__ = ("method", "params", "id")

    def __init__(self, method: str, params: Any = None, id: Any = NO_ID) -> None:
        self.method = method
        self.params = params
        self.id = id

    @property
    def is_event(self) -> bool:
        """True when no reply is expected."""
        return self.id is NO_ID

    def __repr__(self) -> str:
        return f"Call({self.method!r}, {self.params!r}, id={self.id!r})"


class Reply:
    """The answer to a call: a result, or an error.

    Attributes:
        id: the id of the call answered.
        result: the result (when ``error`` is ``None``).
        error: the error, or ``None``.
        method: the method of the call answered, when known (formats that
            repeat it in replies use it); ``None`` for replies received.
    """

    __slots__ = ("id", "result", "error", "method")

    def __init__(
        self,
        id: Any,
        result: Any = None,
        error: Optional[RPCError] = None,
        method: Optional[str] = None,
    ) -> None:
        self.id = id
        self.result = result
        self.error = error
        self.method = method

    def __repr__(self) -> str:
        if self.error is not None:
            return f"Reply({self.id!r}, error={self.error!r})"
        return f"Reply({self.id!r}, {self.result!r})"


class Invalid:
    """An item that could not be understood; answered with ``error``.

    Attributes:
        error: the error to answer with.
        id: the item's id if one could be read, else ``None``.
    """

    __slots__ = ("error", "id")

    def __init__(self, error: RPCError, id: Any = None) -> None:
        self.error = error
        self.id = id

    def __repr__(self) -> str:
        return f"Invalid({self.error!r}, id={self.id!r})"


Item = Union[Call, Reply, Invalid]


class Decoded(NamedTuple):
    """What one message holds.

    Attributes:
        items: the calls, replies and invalid items, in order.
        batch: whether the replies go back together as one message (a
            JSON-RPC batch), rather than one message each.
    """

    items: List[Item]
    batch: bool = False


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str, limit: int) -> int:
    """How deeply ``text`` nests arrays and objects, counted up to ``limit + 1``.

    Brackets inside strings do not count. The text need not be valid JSON;
    the scan stops as soon as the depth exceeds ``limit``.
    """
    if text.count("[") + text.count("{") <= limit:
        return 0  # cannot be deeper than the number of openers
    if '"' in text:
        text = _STRING.sub("", text)
    depth = deepest = 0
    for match in _BRACKET.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif depth:
            depth -= 1
    return deepest


def _valid_id(value: Any) -> bool:
    return value is None or (
        isinstance(value, (str, int, float)) and not isinstance(value, bool)
    )


class Format:
    """How messages look on the wire: the base class of formats.

    Subclass it to speak another message shape over the same handlers; pass
    an instance as ``Events(format=...)``. :meth:`decode` must turn any
    message into items (never raise); each ``encode_*`` method returns the
    message to send, or ``None`` to send nothing.

    The base class's methods raise :class:`NotImplementedError`, except
    :meth:`encode_replies`, which encodes each reply on its own with
    :meth:`encode_reply`.
    """

    def decode(self, message: Union[str, bytes]) -> Decoded:
        """Turn one received message into items."""
        raise NotImplementedError

    def encode_event(self, method: str, params: Any) -> Optional[Union[str, bytes]]:
        """The message for an event sent to the peer (``conn.emit()``)."""
        raise NotImplementedError

    def encode_call(
        self, id: Any, method: str, params: Any
    ) -> Optional[Union[str, bytes]]:
        """The message for a call to the peer (``conn.call()``)."""
        raise NotImplementedError

    def encode_reply(self, reply: Reply) -> Optional[Union[str, bytes]]:
        """The message for one reply to the peer."""
        raise NotImplementedError

    def encode_replies(
        self, replies: Sequence[Reply], batch: bool
    ) -> List[Union[str, bytes]]:
        """The messages that carry ``replies`` (those of one message).

        By default one message per reply; JSON-RPC sends a batch's replies
        as one array.
        """
        out = []
        for reply in replies:
            message = self.encode_reply(reply)
            if message is not None:
                out.append(message)
        return out


class RawMessages(Format):
    """No format at all: each message is the event ``"message"``.

    A received message, text or binary, becomes the event ``"message"`` with
    the message itself as its params; an event sent to the peer is its
    params, sent as they are (``str`` as text, bytes as binary). Calls to
    the peer and replies are not part of it. :class:`~wsocket.app.WSocketApp`
    serves its ``onconnect``/``onmessage``/``onclose`` callbacks with it.
    """

    def decode(self, message: Union[str, bytes]) -> Decoded:
        return Decoded([Call("message", message)], False)

    def encode_event(self, method: str, params: Any) -> Optional[Union[str, bytes]]:
        if not isinstance(params, (str, bytes)):
            raise TypeError(
                f"raw messages are str or bytes, not {type(params).__name__}"
            )
        return params

    def encode_call(
        self, id: Any, method: str, params: Any
    ) -> Optional[Union[str, bytes]]:
        raise TypeError("raw messages have no calls: send with conn.emit()")

    def encode_reply(self, reply: Reply) -> Optional[Union[str, bytes]]:
        return None  # events get no reply


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JSONRPC(Format):
    """JSON-RPC 2.0 (https://www.jsonrpc.org/specification), both ways.

    Args:
        max_depth: deepest nesting of arrays and objects accepted in a
            message (a security limit: the parser recurses once per level).
        max_batch: most calls accepted in one batch (a security limit).
    """

    def __init__(self, max_depth: int = 32, max_batch: int = 100) -> None:
        if max_depth < 1:
            raise ValueError("max_depth must be at least 1")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_depth = max_depth
        self.max_batch = max_batch

    def decode(self, message: Union[str, bytes]) -> Decoded:
        if isinstance(message, (bytes, bytearray)):
            try:
                message = bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                return _one_error(PARSE_ERROR, "Parse error: not UTF-8 text")
        # Python's parser recurses once per level: deep input must never
        # reach it (RecursionError, or a crash in C).
        if nesting_depth(message, self.max_depth) > self.max_depth:
            return _one_error(
                INVALID_REQUEST,
                f"Invalid Request: nested deeper than {self.max_depth} levels",
            )
        try:
            value = json.loads(message)
        except (ValueError, RecursionError):
            return _one_error(PARSE_ERROR)
        if isinstance(value, list):
            if not value:
                return _one_error(INVALID_REQUEST, "Invalid Request: empty batch")
            if len(value) > self.max_batch:
                return _one_error(
                    INVALID_REQUEST,
                    f"Invalid Request: more than {self.max_batch} calls in a batch",
                )
            return Decoded([self._item(entry) for entry in value], True)
        return Decoded([self._item(value)], False)

    @staticmethod
    def _item(value: Any) -> Item:
        if not isinstance(value, dict):
            return Invalid(RPCError(INVALID_REQUEST, "Invalid Request: not an object"))
        has_id = "id" in value
        id = value.get("id")
        if has_id and not _valid_id(id):
            return Invalid(
                RPCError(INVALID_REQUEST, "Invalid Request: bad id type"), None
            )
        shown_id = id if has_id else None
        if value.get("jsonrpc") != "2.0":
            return Invalid(
                RPCError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"'),
                shown_id,
            )
        if "method" in value:
            method = value["method"]
            if not isinstance(method, str):
                return Invalid(
                    RPCError(INVALID_REQUEST, "Invalid Request: method not a string"),
                    shown_id,
                )
            params = value.get("params")
            if params is not None and not isinstance(params, (list, dict)):
                return Invalid(
                    RPCError(
                        INVALID_REQUEST,
                        "Invalid Request: params must be an array or an object",
                    ),
                    shown_id,
                )
            if "params" in value and params is None:
                return Invalid(
                    RPCError(
                        INVALID_REQUEST,
                        "Invalid Request: params must be an array or an object",
                    ),
                    shown_id,
                )
            return Call(method, params, id if has_id else NO_ID)
        if has_id and ("result" in value) != ("error" in value):
            error = value.get("error")
            if "error" in value:
                if not (
                    isinstance(error, dict)
                    and isinstance(error.get("code"), int)
                    and not isinstance(error.get("code"), bool)
                ):
                    return Invalid(
                        RPCError(INVALID_REQUEST, "Invalid Request: bad error object"),
                        shown_id,
                    )
                message = error.get("message")
                return Reply(
                    id,
                    error=RPCError(
                        error["code"],
                        message if isinstance(message, str) else "",
                        error.get("data"),
                    ),
                )
            return Reply(id, value["result"])
        return Invalid(
            RPCError(INVALID_REQUEST, "Invalid Request: no method"), shown_id
        )

    def encode_event(self, method: str, params: Any) -> str:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        return _dumps(message)

    def encode_call(self, id: Any, method: str, params: Any) -> str:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        message["id"] = id
        return _dumps(message)

    def encode_reply(self, reply: Reply) -> str:
        return _dumps(self._reply_object(reply))

    @staticmethod
    def _reply_object(reply: Reply) -> dict[str, Any]:
        if reply.error is not None:
            return {"jsonrpc": "2.0", "error": reply.error.to_dict(), "id": reply.id}
        return {"jsonrpc": "2.0", "result": reply.result, "id": reply.id}

    def encode_replies(self, replies: Sequence[Reply], batch: bool) -> List[Any]:
        if not replies:
            return []  # a batch of events only gets no answer at all
        if not batch:
            return [self.encode_reply(reply) for reply in replies]
        return ["[" + ",".join(self.encode_reply(reply) for reply in replies) + "]"]


def _one_error(code: int, message: str = "") -> Decoded:
    return Decoded([Invalid(RPCError(code, message))], False)


#: The default format instance.
JSON_RPC = JSONRPC()
