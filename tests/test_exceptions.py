"""Tests for wsocket.exceptions: the tree its docstring draws, and the messages."""

from __future__ import annotations

import re

import pytest

from wsocket import exceptions
from wsocket.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    InvalidState,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    WebSocketError,
)
from wsocket.http11 import HTTPParseError
from wsocket.request import BadRequest, RequestError, RequestTooLarge


def drawn_tree() -> dict[str, str]:
    """Each class in the module docstring's tree -> the class drawn above it."""
    doc = exceptions.__doc__ or ""
    block = doc.split(".. code-block:: text", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = re.match(r"^    ([│├└─ ]*?)(\w+)\s", line)
        assert match, line
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else ""
        stack.append((depth, name))
    return parents


CLASSES = {
    cls.__name__: cls
    for cls in (
        WebSocketError,
        ConnectionClosed,
        ConnectionClosedOK,
        ConnectionClosedError,
        ProtocolError,
        PayloadTooBig,
        HandshakeError,
        NegotiationError,
        InvalidState,
        HTTPParseError,
        RequestError,
        BadRequest,
        RequestTooLarge,
    )
}


def test_the_docstring_draws_the_real_hierarchy() -> None:
    parents = drawn_tree()
    assert sorted(parents) == sorted(CLASSES)
    for name, parent in parents.items():
        cls = CLASSES[name]
        if parent:
            assert cls.__bases__[0] is CLASSES[parent], name
        else:
            assert cls is WebSocketError


def test_every_exported_name_is_in_the_tree() -> None:
    assert set(exceptions.__all__) <= set(drawn_tree())


@pytest.mark.parametrize(
    "code,reason,text",
    [
        (1000, "", "connection closed: 1000"),
        (4001, "bye", "connection closed: 4001 bye"),
    ],
)
def test_connection_closed_says_code_and_reason(
    code: int, reason: str, text: str
) -> None:
    exc = ConnectionClosedOK(code, reason)
    assert (exc.code, exc.reason, str(exc)) == (code, reason, text)


def test_connection_closed_defaults_to_an_abnormal_closure() -> None:
    exc = ConnectionClosedError()
    assert (exc.code, exc.reason, str(exc)) == (1006, "", "connection closed: 1006")


def test_protocol_errors_carry_their_close_code() -> None:
    assert ProtocolError("bad opcode").code == 1002
    assert ProtocolError("bad UTF-8", 1007).code == 1007
    too_big = PayloadTooBig("message of 2000000 bytes over the limit")
    assert (too_big.code, str(too_big)) == (
        1009,
        "message of 2000000 bytes over the limit",
    )


def test_handshake_error_describes_the_response() -> None:
    exc = HandshakeError("missing Sec-WebSocket-Key")
    assert (exc.status, exc.reason, exc.headers) == (
        400,
        "missing Sec-WebSocket-Key",
        [],
    )
    headers = [("Sec-WebSocket-Version", "13")]
    exc = NegotiationError("no common subprotocol", 426, headers)
    assert (exc.status, exc.headers) == (426, headers)
    # The headers are copied: changing the list given does not change the error.
    headers.append(("X", "y"))
    assert exc.headers == [("Sec-WebSocket-Version", "13")]


def test_invalid_state_is_also_an_assertion_error() -> None:
    with pytest.raises(AssertionError):
        raise InvalidState("send after close")
    with pytest.raises(WebSocketError):
        raise InvalidState("send after close")
