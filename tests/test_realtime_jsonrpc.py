"""wsocket.realtime.jsonrpc: the JSON-RPC 2.0 codec, its limits, and the format hook.

The format hook is shown speaking the message shapes of three earlier
projects (wsappy, zaptools, tranzit), each in a few lines, end to end
through an ``Events`` endpoint.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Optional, Union

import pytest
from helpers import MS

from wsocket import WSocketApp
from wsocket.realtime import (
    JSON_RPC,
    JSONRPC,
    NO_ID,
    Call,
    Connection,
    Decoded,
    Format,
    Invalid,
    Reply,
    RPCError,
)
from wsocket.realtime.jsonrpc import nesting_depth
from wsocket.testing import TestClient

TIMEOUT = 5000 * MS


# -- decoding ------------------------------------------------------------------


def test_decode_call_event_and_reply() -> None:
    (call,), batch = JSON_RPC.decode(
        '{"jsonrpc": "2.0", "method": "m", "params": [1], "id": 7}'
    )
    assert isinstance(call, Call) and not batch
    assert (call.method, call.params, call.id, call.is_event) == ("m", [1], 7, False)

    (event,), _ = JSON_RPC.decode('{"jsonrpc": "2.0", "method": "m"}')
    assert isinstance(event, Call)
    assert event.id is NO_ID and event.is_event and event.params is None

    (reply,), _ = JSON_RPC.decode('{"jsonrpc": "2.0", "result": null, "id": 3}')
    assert isinstance(reply, Reply) and reply.id == 3 and reply.result is None

    (error,), _ = JSON_RPC.decode(
        '{"jsonrpc": "2.0", "error": {"code": 5, "message": "m", "data": 1}, "id": "x"}'
    )
    assert isinstance(error, Reply) and isinstance(error.error, RPCError)
    assert (error.error.code, error.error.message, error.error.data) == (5, "m", 1)


def test_null_id_is_a_call_not_an_event() -> None:
    (call,), _ = JSON_RPC.decode('{"jsonrpc": "2.0", "method": "m", "id": null}')
    assert isinstance(call, Call) and call.id is None and not call.is_event


@pytest.mark.parametrize(
    "message, code",
    [
        ("", -32700),
        ("{", -32700),
        (b"\xff\xfe", -32700),
        ("[]", -32600),
        ("3", -32600),
        ('{"jsonrpc": "1.0", "method": "m"}', -32600),
        ('{"jsonrpc": "2.0", "method": "m", "id": true}', -32600),
        ('{"jsonrpc": "2.0", "method": "m", "id": [1]}', -32600),
        ('{"jsonrpc": "2.0", "method": "m", "params": null}', -32600),
        ('{"jsonrpc": "2.0", "method": "m", "params": "s"}', -32600),
        ('{"jsonrpc": "2.0", "result": 1, "error": {"code": 1}, "id": 1}', -32600),
        ('{"jsonrpc": "2.0", "error": {"code": "x"}, "id": 1}', -32600),
        ('{"jsonrpc": "2.0", "result": 1}', -32600),
    ],
)
def test_invalid_messages(message: Union[str, bytes], code: int) -> None:
    items, batch = JSON_RPC.decode(message)
    assert not batch and len(items) == 1
    assert isinstance(items[0], Invalid)
    assert items[0].error.code == code


def test_invalid_item_keeps_a_readable_id() -> None:
    (item,), _ = JSON_RPC.decode('{"jsonrpc": "2.0", "method": 1, "id": 9}')
    assert isinstance(item, Invalid) and item.id == 9


def test_binary_utf8_is_accepted() -> None:
    (call,), _ = JSON_RPC.decode(b'{"jsonrpc": "2.0", "method": "m"}')
    assert isinstance(call, Call)


def test_batch_decodes_each_entry() -> None:
    items, batch = JSON_RPC.decode(
        '[{"jsonrpc": "2.0", "method": "a", "id": 1}, 2, '
        '{"jsonrpc": "2.0", "result": 0, "id": 5}]'
    )
    assert batch
    assert [type(item) for item in items] == [Call, Invalid, Reply]


# -- limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, depth",
    [
        ("{}", 1),
        ("[[[]]]", 3),
        ('["[[[[", {"a": "]]]"}]', 2),
        ('["\\"[[["]', 1),
        ("[" * 10, 10),
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text, 0) >= 1
    assert nesting_depth(text, 100) in (0, depth)
    assert nesting_depth(text, depth - 1) == depth


def test_deep_nesting_never_reaches_the_parser() -> None:
    limit = sys.getrecursionlimit()
    for text in ("[" * 200000, '{"a":' * 200000, "[" * (limit * 4) + "]" * (limit * 4)):
        (item,), batch = JSON_RPC.decode(text)
        assert isinstance(item, Invalid) and item.error.code == -32600
        assert "nested deeper than 32" in item.error.message


def test_depth_at_the_limit_is_accepted() -> None:
    codec = JSONRPC(max_depth=4)
    (call,), _ = codec.decode('{"jsonrpc": "2.0", "method": "m", "params": [[[1]]]}')
    assert isinstance(call, Call) and call.params == [[[1]]]
    (item,), _ = codec.decode('{"jsonrpc": "2.0", "method": "m", "params": [[[[1]]]]}')
    assert isinstance(item, Invalid)


def test_batch_limit() -> None:
    codec = JSONRPC(max_batch=2)
    message = json.dumps([{"jsonrpc": "2.0", "method": "m"}] * 3)
    (item,), batch = codec.decode(message)
    assert not batch and isinstance(item, Invalid) and item.error.code == -32600
    with pytest.raises(ValueError):
        JSONRPC(max_batch=0)
    with pytest.raises(ValueError):
        JSONRPC(max_depth=0)


# -- encoding ------------------------------------------------------------------


def test_encode_messages() -> None:
    assert json.loads(JSON_RPC.encode_event("e", None)) == {
        "jsonrpc": "2.0",
        "method": "e",
    }
    assert json.loads(JSON_RPC.encode_event("e", {"é": 1})) == {
        "jsonrpc": "2.0",
        "method": "e",
        "params": {"é": 1},
    }
    assert json.loads(JSON_RPC.encode_call(4, "c", [1])) == {
        "jsonrpc": "2.0",
        "method": "c",
        "params": [1],
        "id": 4,
    }
    replies = [Reply(1, [1]), Reply("b", error=RPCError(-32601))]
    assert [json.loads(m) for m in JSON_RPC.encode_replies(replies, False)] == [
        {"jsonrpc": "2.0", "result": [1], "id": 1},
        {
            "jsonrpc": "2.0",
            "error": {"code": -32601, "message": "Method not found"},
            "id": "b",
        },
    ]
    (batch,) = JSON_RPC.encode_replies(replies, True)
    assert [item["id"] for item in json.loads(batch)] == [1, "b"]
    assert JSON_RPC.encode_replies([], True) == []


def test_rpc_error() -> None:
    error = RPCError(-32602)
    assert error.message == "Invalid params" and str(error) == "-32602 Invalid params"
    assert error.to_dict() == {"code": -32602, "message": "Invalid params"}
    assert RPCError(1, "m", {"x": 1}).to_dict() == {
        "code": 1,
        "message": "m",
        "data": {"x": 1},
    }
    with pytest.raises(TypeError):
        RPCError("1", "m")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RPCError(True, "m")


def test_base_format_is_abstract() -> None:
    fmt = Format()
    with pytest.raises(NotImplementedError):
        fmt.decode("x")
    with pytest.raises(NotImplementedError):
        fmt.encode_event("m", None)
    with pytest.raises(NotImplementedError):
        fmt.encode_call(1, "m", None)
    with pytest.raises(NotImplementedError):
        fmt.encode_replies([Reply(1, 2)], False)


# -- the format hook: three earlier message shapes -----------------------------


class Wsappy(Format):
    """{"module", "method", "data", "request_id"} calls; replies name the module."""

    def decode(self, message: Union[str, bytes]) -> Decoded:
        try:
            msg = json.loads(message)
            call = Call(
                f"{msg['module']}.{msg['method']}",
                msg.get("data") or {},
                msg["request_id"],
            )
        except (ValueError, KeyError, TypeError):
            return Decoded([Invalid(RPCError(-32600))])
        return Decoded([call])

    def encode_reply(self, reply: Reply) -> str:
        module = (reply.method or "").partition(".")[0]
        if reply.error is not None:
            event, data = "error", reply.error.to_dict()
        else:
            event, data = "result", reply.result
        return json.dumps(
            {"request_id": reply.id, "event": event, "module": module, "data": data}
        )

    def encode_event(self, method: str, params: Any) -> str:
        module, _, event = method.rpartition(".")
        return json.dumps({"event": event, "module": module, "data": params})


class Zaptools(Format):
    """{"eventName", "payload", "headers"} events, both ways."""

    def decode(self, message: Union[str, bytes]) -> Decoded:
        try:
            msg = json.loads(message)
            return Decoded([Call(msg["eventName"], msg.get("payload"))])
        except (ValueError, KeyError, TypeError):
            return Decoded([])  # zaptools has no error replies: drop it

    def encode_event(self, method: str, params: Any) -> str:
        return json.dumps({"eventName": method, "payload": params, "headers": {}})

    def encode_reply(self, reply: Reply) -> None:
        return None


class Tranzit(Format):
    """``func|arg1, arg2`` text calls; plain text pushes."""

    def decode(self, message: Union[str, bytes]) -> Decoded:
        text = (
            message if isinstance(message, str) else message.decode("utf-8", "replace")
        )
        name, _, args = text.partition("|")
        params = [arg.strip() for arg in args.split(",")] if args else []
        return Decoded([Call(name.strip(), params)])

    def encode_event(self, method: str, params: Any) -> str:
        return params if isinstance(params, str) else json.dumps(params)

    def encode_reply(self, reply: Reply) -> None:
        return None


def test_wsappy_format() -> None:
    app = WSocketApp()
    events = app.events("/api", format=Wsappy())

    @events.on("entity.get")
    def get(conn: Connection, params: Any) -> Any:
        return {"items": [{"id": params["item_id"], "name": "a"}]}

    with TestClient(app).websocket_connect("/api") as ws:
        ws.send(
            '{"module": "entity", "method": "get", "data": {"item_id": 42}, '
            '"request_id": 1}'
        )
        assert json.loads(ws.receive(timeout=TIMEOUT) or "") == {
            "request_id": 1,
            "event": "result",
            "module": "entity",
            "data": {"items": [{"id": 42, "name": "a"}]},
        }
        ws.send('{"module": "entity", "method": "nope", "request_id": 2}')
        reply = json.loads(ws.receive(timeout=TIMEOUT) or "")
        assert reply["request_id"] == 2 and reply["event"] == "error"
        assert reply["data"]["code"] == -32601


def test_zaptools_format() -> None:
    app = WSocketApp()
    events = app.events("/", format=Zaptools())
    log = []
    done = threading.Event()

    @events.on_connect  # zaptools' "connected"
    def connected(conn: Connection) -> None:
        log.append("connected")

    @events.on_disconnect  # zaptools' "disconnected"
    def disconnected(conn: Connection) -> None:
        log.append("disconnected")
        done.set()

    @events.on("hello")
    def hello(conn: Connection, payload: Any) -> None:
        log.append(payload)
        conn.emit("hello", "HELLO FROM SERVER !!!")

    with TestClient(app).websocket_connect("/") as ws:
        ws.send('{"eventName": "hello", "payload": "anything JSON", "headers": {}}')
        assert json.loads(ws.receive(timeout=TIMEOUT) or "") == {
            "eventName": "hello",
            "payload": "HELLO FROM SERVER !!!",
            "headers": {},
        }
    assert done.wait(TIMEOUT)
    assert log == ["connected", "anything JSON", "disconnected"]


def test_tranzit_format() -> None:
    app = WSocketApp()
    events = app.events("/ws", format=Tranzit())
    got: list[Optional[list[str]]] = []

    @events.on("get_hello", concurrent=True)
    def get_hello(conn: Connection, args: list[str]) -> None:
        got.append(args)
        while not conn.wait_closed(10 * MS):  # a push loop, until the client leaves
            conn.emit("message", "HELLO!")

    with TestClient(app).websocket_connect("/ws") as ws:
        ws.send("get_hello|arg1, arg2, arg3")
        assert ws.receive(timeout=TIMEOUT) == "HELLO!"
        assert ws.receive(timeout=TIMEOUT) == "HELLO!"
    assert got == [["arg1", "arg2", "arg3"]]
