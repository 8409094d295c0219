"""Parse and build the header values of the WebSocket opening handshake.

This module is sans-I/O: it turns header *values* (``str``, as a WSGI server
or the client's HTTP parser hands them over) into Python data and back.

Strategy: every parser walks the value once, left to right, with a position
index and a few anchored regular expressions. Each syntax error raises
:class:`ValueError` with the position and what was expected there, so that
a handshake can answer ``400 Bad Request`` with a useful reason.

Grammars implemented:

* ``#token`` lists (`RFC 7230 section 7`_): ``Connection``,
  ``Sec-WebSocket-Protocol``. Empty list elements and optional whitespace
  (OWS) around commas are tolerated, as section 7 requires of recipients.
* ``Upgrade`` (`RFC 7230 section 6.7`_): a list of ``protocol-name
  ["/" protocol-version]``.
* ``Sec-WebSocket-Extensions`` (`RFC 6455 section 9.1`_): a list of
  extensions, each with ``;``-separated parameters whose values are a token
  or a quoted-string. After unquoting, a quoted value must itself be a
  token. `RFC 7692 section 5`_ uses this grammar for permessage-deflate.

A header field that occurs several times is equivalent to one field whose
values are joined with ``", "`` (RFC 7230 section 3.2.2). WSGI servers
already join them; callers that hold separate values must join them first.

.. _RFC 7230 section 7: https://www.rfc-editor.org/rfc/rfc7230#section-7
.. _RFC 7230 section 6.7: https://www.rfc-editor.org/rfc/rfc7230#section-6.7
.. _RFC 6455 section 9.1: https://www.rfc-editor.org/rfc/rfc6455#section-9.1
.. _RFC 7692 section 5: https://www.rfc-editor.org/rfc/rfc7692#section-5
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import List, Optional, Tuple

__all__ = [
    "ExtensionParams",
    "ExtensionHeader",
    "is_token",
    "parse_token_list",
    "build_token_list",
    "parse_upgrade",
    "parse_extensions",
    "build_extensions",
]

#: The parameters of one extension, as ``(name, value)`` pairs. ``value`` is
#: ``None`` for a parameter written without ``=``.
ExtensionParams = List[Tuple[str, Optional[str]]]

#: One parsed ``Sec-WebSocket-Extensions`` element: ``(name, params)``.
ExtensionHeader = Tuple[str, ExtensionParams]

# RFC 7230 section 3.2.6: token = 1*tchar, tchar = "!" / "#" / "$" / "%" /
# "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT /
# ALPHA.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 7230 section 3.2.3: OWS = *( SP / HTAB ).
_OWS = re.compile(r"[ \t]*")

# RFC 7230 section 3.2.6: quoted-string = DQUOTE *( qdtext / quoted-pair )
# DQUOTE, qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text,
# quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
_QUOTED_STRING = re.compile(
    r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"'
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def is_token(value: str) -> bool:
    """Tell whether ``value`` is an RFC 7230 token (section 3.2.6).

    Args:
        value: the string to check.

    Returns:
        ``True`` when ``value`` is one or more ``tchar`` and nothing else.
    """
    return _TOKEN.fullmatch(value) is not None


def _skip_ows(value: str, pos: int) -> int:
    match = _OWS.match(value, pos)
    assert match is not None  # OWS matches the empty string
    return match.end()


def _describe(value: str, pos: int) -> str:
    if pos >= len(value):
        return "end of header"
    return f"{value[pos]!r} at position {pos}"


def _token_at(value: str, pos: int, what: str) -> Tuple[str, int]:
    match = _TOKEN.match(value, pos)
    if match is None:
        raise ValueError(f"expected {what}, found {_describe(value, pos)}")
    return match.group(), match.end()


def _list_elements(value: str) -> List[Tuple[str, int]]:
    """Split a ``#element`` list on commas, dropping OWS and empty elements.

    Only valid for grammars whose elements cannot contain a comma.
    """
    elements = []
    pos = 0
    for raw in value.split(","):
        start = _skip_ows(raw, 0)
        stripped = raw[start:].rstrip(" \t")
        if stripped:
            elements.append((stripped, pos + start))
        pos += len(raw) + 1
    return elements


def parse_token_list(value: str) -> List[str]:
    """Parse a comma-separated list of tokens (RFC 7230 section 7).

    Used for ``Connection`` and ``Sec-WebSocket-Protocol``. Tokens come back
    as written; compare them case-insensitively where the RFC says so (it
    does for ``Connection``, not for subprotocol names).

    Args:
        value: the header value, or several values joined with ``", "``.

    Returns:
        the tokens, in order, without empty elements.

    Raises:
        ValueError: if an element is not a token.
    """
    tokens = []
    for element, pos in _list_elements(value):
        if not is_token(element):
            match = _TOKEN.match(element)
            bad = match.end() if match else 0
            raise ValueError(f"expected a token, found {_describe(value, pos + bad)}")
        tokens.append(element)
    return tokens


def build_token_list(tokens: Iterable[str]) -> str:
    """Serialize tokens as a comma-separated header value.

    Args:
        tokens: the tokens, for example subprotocol names.

    Returns:
        the tokens joined with ``", "``; an empty string for no tokens.

    Raises:
        ValueError: if one of ``tokens`` is not a token.
    """
    tokens = list(tokens)
    for token in tokens:
        if not is_token(token):
            raise ValueError(f"{token!r} is not a valid token")
    return ", ".join(tokens)


def parse_upgrade(value: str) -> List[str]:
    """Parse an ``Upgrade`` header value (RFC 7230 section 6.7).

    ``Upgrade = 1#protocol`` where ``protocol = protocol-name ["/"
    protocol-version]``; both parts are tokens. WebSocket is the protocol
    ``websocket`` (RFC 6455 section 4.1), compared case-insensitively.

    Args:
        value: the header value, or several values joined with ``", "``.

    Returns:
        the protocols as written, for example ``["h2c", "websocket"]``.

    Raises:
        ValueError: if an element is not ``token`` or ``token/token``.
    """
    protocols = []
    for element, pos in _list_elements(value):
        name, end = _token_at(element, 0, "a protocol name")
        if end < len(element) and element[end] == "/":
            _, end = _token_at(element, end + 1, "a protocol version")
        if end != len(element):
            raise ValueError(
                f"expected ',' or end of header, found {_describe(value, pos + end)}"
            )
        protocols.append(element)
    return protocols


def _unquote(quoted: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", quoted)


def parse_extensions(value: str) -> List[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` value (RFC 6455 section 9.1).

    The grammar is::

        extension-list  = 1#extension
        extension       = extension-token *( OWS ";" OWS extension-param )
        extension-param = token [ OWS "=" OWS ( token / quoted-string ) ]

    A quoted value is unquoted and must then be a token ("When using the
    quoted-string syntax variant, the value after quoted-string unescaping
    MUST conform to the 'token' ABNF", section 9.1). Names are returned as
    written; extension and parameter names are compared case-insensitively
    by the callers.

    Example: ``'permessage-deflate; client_max_window_bits, x; a="1"'``
    parses to::

        [("permessage-deflate", [("client_max_window_bits", None)]),
         ("x", [("a", "1")])]

    Args:
        value: the header value, or several values joined with ``", "``.

    Returns:
        ``(name, params)`` for each extension, in the order offered;
        an empty list when the value holds only empty list elements.

    Raises:
        ValueError: on any syntax error, with the position of the error.
    """
    extensions: List[ExtensionHeader] = []
    length = len(value)
    pos = 0
    while True:
        pos = _skip_ows(value, pos)
        if pos == length:
            return extensions
        if value[pos] == ",":  # empty list element, RFC 7230 section 7
            pos += 1
            continue
        name, pos = _token_at(value, pos, "an extension name")
        params: ExtensionParams = []
        pos = _skip_ows(value, pos)
        while pos < length and value[pos] == ";":
            pos = _skip_ows(value, pos + 1)
            param, pos = _token_at(value, pos, "a parameter name")
            pos = _skip_ows(value, pos)
            param_value: Optional[str] = None
            if pos < length and value[pos] == "=":
                pos = _skip_ows(value, pos + 1)
                if pos < length and value[pos] == '"':
                    match = _QUOTED_STRING.match(value, pos)
                    if match is None:
                        raise ValueError(f"invalid quoted-string at position {pos}")
                    param_value = _unquote(match.group(1))
                    if not is_token(param_value):
                        raise ValueError(
                            f"quoted value of parameter {param!r} is not a "
                            f"token (RFC 6455 section 9.1)"
                        )
                    pos = match.end()
                else:
                    param_value, pos = _token_at(value, pos, "a parameter value")
                pos = _skip_ows(value, pos)
            params.append((param, param_value))
        extensions.append((name, params))
        if pos == length:
            return extensions
        if value[pos] != ",":
            raise ValueError(
                f"expected ';', ',' or end of header, found {_describe(value, pos)}"
            )
        pos += 1


def build_extensions(
    extensions: Iterable[Tuple[str, Sequence[Tuple[str, Optional[str]]]]],
) -> str:
    """Serialize extensions as a ``Sec-WebSocket-Extensions`` value.

    Values are written as bare tokens: RFC 6455 section 9.1 requires every
    value to be a token anyway, so quoting never helps.

    Args:
        extensions: ``(name, params)`` pairs, as :func:`parse_extensions`
            returns them.

    Returns:
        for example ``"permessage-deflate; client_max_window_bits=15"``.

    Raises:
        ValueError: if a name or value is not a token.
    """
    elements = []
    for name, params in extensions:
        if not is_token(name):
            raise ValueError(f"extension name {name!r} is not a valid token")
        parts = [name]
        for param, param_value in params:
            if not is_token(param):
                raise ValueError(f"parameter name {param!r} is not a valid token")
            if param_value is None:
                parts.append(param)
            elif is_token(param_value):
                parts.append(f"{param}={param_value}")
            else:
                raise ValueError(
                    f"value {param_value!r} of parameter {param!r} is not a valid token"
                )
        elements.append("; ".join(parts))
    return ", ".join(elements)
