from __future__ import annotations

from typing import List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsocket.headers import (
    ExtensionHeader,
    build_extensions,
    build_token_list,
    is_token,
    parse_extensions,
    parse_token_list,
    parse_upgrade,
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


# is_token


@pytest.mark.parametrize("value", ["a", "websocket", "permessage-deflate", TCHARS])
def test_is_token_accepts_tokens(value: str) -> None:
    assert is_token(value)


@pytest.mark.parametrize(
    "value", ["", " ", "a b", "a,b", "a;b", 'a"', "a=b", "a/b", "é", "a\x00", "(a)"]
)
def test_is_token_rejects_other_strings(value: str) -> None:
    assert not is_token(value)


# parse_token_list


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        ("keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
        ("  chat ,\tsuperchat\t", ["chat", "superchat"]),
        # RFC 7230 section 7: recipients accept empty list elements.
        (", , chat,,", ["chat"]),
        ("", []),
        (" \t ", []),
        (",", []),
        # Tokens come back as written; callers decide on case.
        ("WebSocket", ["WebSocket"]),
        ("chat, chat", ["chat", "chat"]),
    ],
)
def test_parse_token_list(value: str, expected: List[str]) -> None:
    assert parse_token_list(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("keep alive", "' ' at position 4"),
        ("chat, super chat", "' ' at position 11"),
        ("a;b", "';' at position 1"),
        ('"chat"', "'\"' at position 0"),
        ("chat, v2/x", "'/' at position 8"),
        ("a\x00", "'\\x00' at position 1"),
        ("é", "'é' at position 0"),
    ],
)
def test_parse_token_list_rejects_invalid_tokens(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="expected a token") as excinfo:
        parse_token_list(value)
    assert message in str(excinfo.value)


def test_build_token_list() -> None:
    assert build_token_list(["chat", "superchat"]) == "chat, superchat"
    assert build_token_list([]) == ""
    assert build_token_list(iter(["v1.json"])) == "v1.json"


@pytest.mark.parametrize("bad", ["", "a b", "a,b", "chat\r\nX-Injected: 1"])
def test_build_token_list_rejects_non_tokens(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid token"):
        build_token_list(["chat", bad])


# parse_upgrade


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("websocket", ["websocket"]),
        ("WebSocket", ["WebSocket"]),
        ("HTTP/2.0, websocket", ["HTTP/2.0", "websocket"]),
        ("h2c,websocket/13 , ", ["h2c", "websocket/13"]),
        ("", []),
    ],
)
def test_parse_upgrade(value: str, expected: List[str]) -> None:
    assert parse_upgrade(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("web socket", "expected ',' or end of header, found ' ' at position 3"),
        ("websocket/", "expected a protocol version, found end of header"),
        ("/13", "expected a protocol name, found '/' at position 0"),
        ("a/b/c", "expected ',' or end of header, found '/' at position 3"),
        ("x, =", "expected a protocol name, found '=' at position 0"),
    ],
)
def test_parse_upgrade_rejects_invalid_values(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="expected") as excinfo:
        parse_upgrade(value)
    assert message in str(excinfo.value)


# parse_extensions

EXTENSION_CASES: List[Tuple[str, List[ExtensionHeader]]] = [
    # What Chrome sends.
    (
        "permessage-deflate; client_max_window_bits",
        [("permessage-deflate", [("client_max_window_bits", None)])],
    ),
    # What Firefox sends.
    ("permessage-deflate", [("permessage-deflate", [])]),
    # RFC 7692 section 5.1: several offers, in preference order.
    (
        "permessage-deflate; client_max_window_bits=10, permessage-deflate",
        [
            ("permessage-deflate", [("client_max_window_bits", "10")]),
            ("permessage-deflate", []),
        ],
    ),
    (
        "permessage-deflate;server_no_context_takeover;server_max_window_bits=9",
        [
            (
                "permessage-deflate",
                [("server_no_context_takeover", None), ("server_max_window_bits", "9")],
            )
        ],
    ),
    # Quoted values are unquoted (RFC 6455 section 9.1).
    ('x; bits="10"', [("x", [("bits", "10")])]),
    ('x; bits="1\\0"', [("x", [("bits", "10")])]),
    # Optional whitespace everywhere it may appear.
    (" x ;\ta = 1 ; b ,\ty ", [("x", [("a", "1"), ("b", None)]), ("y", [])]),
    # Empty list elements (RFC 7230 section 7).
    (", ,x,, ,", [("x", [])]),
    ("", []),
    (" ", []),
    # Names and values are returned as written.
    (
        "PerMessage-Deflate; Client_Max_Window_Bits",
        [("PerMessage-Deflate", [("Client_Max_Window_Bits", None)])],
    ),
    ("x; a=1; a=2", [("x", [("a", "1"), ("a", "2")])]),
]


@pytest.mark.parametrize(("value", "expected"), EXTENSION_CASES)
def test_parse_extensions(value: str, expected: List[ExtensionHeader]) -> None:
    assert parse_extensions(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x;", "expected a parameter name, found end of header"),
        ("x; ", "expected a parameter name, found end of header"),
        ("x; =1", "expected a parameter name, found '=' at position 3"),
        ("x; a=", "expected a parameter value, found end of header"),
        ("x; a=;", "expected a parameter value, found ';' at position 5"),
        ("x y", "expected ';', ',' or end of header, found 'y' at position 2"),
        ("x; a=1 2", "expected ';', ',' or end of header, found '2' at position 7"),
        (";a", "expected an extension name, found ';' at position 0"),
        ("x, ;a", "expected an extension name, found ';' at position 3"),
        ('"x"', "expected an extension name, found '\"' at position 0"),
        ("x; a=@", "expected a parameter value, found '@' at position 5"),
        ('x; a="10', "invalid quoted-string at position 5"),
        ('x; a="1\x010"', "invalid quoted-string at position 5"),
        ('x; a="1 0"', "quoted value of parameter 'a' is not a token"),
        ('x; a=""', "quoted value of parameter 'a' is not a token"),
        ('x; a="a,b"', "quoted value of parameter 'a' is not a token"),
        ("x; a=1=2", "expected ';', ',' or end of header, found '=' at position 6"),
        ("é", "expected an extension name, found 'é' at position 0"),
    ],
)
def test_parse_extensions_rejects_invalid_syntax(value: str, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_extensions(value)
    assert message in str(excinfo.value)


# build_extensions


def test_build_extensions() -> None:
    assert build_extensions([]) == ""
    assert build_extensions([("permessage-deflate", [])]) == "permessage-deflate"
    assert (
        build_extensions(
            [
                (
                    "permessage-deflate",
                    [
                        ("server_no_context_takeover", None),
                        ("client_max_window_bits", "10"),
                    ],
                ),
                ("x-other", [("a", "1")]),
            ]
        )
        == "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
        ", x-other; a=1"
    )


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        ([("bad name", [])], "extension name 'bad name'"),
        ([("x", [("a b", None)])], "parameter name 'a b'"),
        ([("x", [("a", "1 0")])], "value '1 0' of parameter 'a'"),
        ([("x", [("a", "")])], "value '' of parameter 'a'"),
        ([("x", [("a", "1\r\nInjected: yes")])], "of parameter 'a'"),
    ],
)
def test_build_extensions_rejects_non_tokens(
    extensions: List[Tuple[str, List[Tuple[str, Optional[str]]]]], message: str
) -> None:
    with pytest.raises(ValueError) as excinfo:
        build_extensions(extensions)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(("value", "expected"), EXTENSION_CASES)
def test_build_parses_back(value: str, expected: List[ExtensionHeader]) -> None:
    assert parse_extensions(build_extensions(expected)) == expected


# Properties

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
extension_lists = st.lists(
    st.tuples(tokens, st.lists(st.tuples(tokens, st.none() | tokens), max_size=4)),
    max_size=4,
)
# Text biased towards the characters the grammars care about.
grammar_text = st.text(
    alphabet=st.sampled_from(list(' \t,;="\\/abcXYZ019-_~!\x00\x7f\x80é\r\n')),
    max_size=40,
)
any_text = st.one_of(st.text(max_size=60), grammar_text)


@given(any_text)
def test_parse_extensions_returns_or_raises_value_error(value: str) -> None:
    try:
        result = parse_extensions(value)
    except ValueError:
        return
    for name, params in result:
        assert is_token(name)
        for param, param_value in params:
            assert is_token(param)
            assert param_value is None or is_token(param_value)


@given(any_text)
def test_parse_token_list_returns_or_raises_value_error(value: str) -> None:
    try:
        result = parse_token_list(value)
    except ValueError:
        return
    assert all(is_token(token) for token in result)
    assert parse_token_list(build_token_list(result)) == result


@given(any_text)
def test_parse_upgrade_returns_or_raises_value_error(value: str) -> None:
    try:
        result = parse_upgrade(value)
    except ValueError:
        return
    for protocol in result:
        assert all(is_token(part) for part in protocol.split("/"))


@given(extension_lists)
def test_extensions_round_trip(extensions: List[ExtensionHeader]) -> None:
    assert parse_extensions(build_extensions(extensions)) == extensions


@given(st.lists(tokens, max_size=6))
def test_token_lists_round_trip(values: List[str]) -> None:
    assert parse_token_list(build_token_list(values)) == values
