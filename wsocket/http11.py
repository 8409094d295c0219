"""The HTTP/1.1 message syntax, parsed in one place (RFC 9110, RFC 9112).

This module is sans-I/O: it never touches a socket. wsocket's own server,
the client side of the WebSocket handshake and the test client all read HTTP
through it, so that one grammar, with one strictness, decides what a request
or a response is.

Strategy: a reader is given the connection's receive buffer (a
:class:`bytearray` that the caller appends to) and either returns what it
parsed, removing those bytes from the buffer, or returns ``None`` to ask for
more bytes, or raises :class:`HTTPParseError`, which carries the HTTP status
a server answers with and a reason that is safe to send back:

* :class:`RequestReader` reads a request head into a :class:`RequestHead`;
* :class:`ResponseReader` reads a response head into a :class:`ResponseHead`;
* :func:`body_reader` returns the reader of a request's body, which hands out
  the body bytes (:class:`LengthReader`, :class:`ChunkedReader`).

What is refused, and with which status:

* 400: a malformed request line or header line (a field name that is not a
  token, whitespace before the colon, a value with CR, LF, NUL or another
  control character, an ``obs-fold`` continuation line), a bare CR or a bare
  LF anywhere in the head (only CRLF ends a line), a missing or repeated
  ``Host`` in HTTP/1.1, a ``Content-Length`` that is not one plain decimal
  number, ``Content-Length`` together with ``Transfer-Encoding``,
  ``Transfer-Encoding`` whose final coding is not ``chunked`` or in an
  HTTP/1.0 request, a malformed chunk;
* 414: a request line longer than :attr:`Limits.max_request_line`;
* 431: more header lines than :attr:`Limits.max_headers`, or a head larger
  than :attr:`Limits.max_head_size`; trailers larger than
  :attr:`Limits.max_trailer_size`;
* 501: ``Transfer-Encoding`` with a coding other than ``chunked`` (``gzip,
  chunked``): wsocket decodes no other transfer coding;
* 505: an HTTP version other than HTTP/1.0 and HTTP/1.1.

Responses are read with the same rules, except that an ``obs-fold`` line is
unfolded into a space, as RFC 9112 section 5.2 asks of a user agent, and a
missing reason phrase is tolerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

from .exceptions import WebSocketError

__all__ = [
    "HTTPParseError",
    "Limits",
    "DEFAULT_LIMITS",
    "RequestHead",
    "ResponseHead",
    "RequestReader",
    "ResponseReader",
    "LengthReader",
    "ChunkedReader",
    "body_reader",
    "parse_request",
    "parse_response",
    "check_field",
]

# RFC 9110 section 5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9112 section 3.2: request-target in its four forms, all visible ASCII.
_TARGET = re.compile(rb"[\x21-\x7e]+")
# RFC 9112 section 2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT.
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# RFC 9112 section 4: status-line = HTTP-version SP status-code SP
# [ reason-phrase ]; reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
# A status line without "SP reason-phrase" is tolerated: servers send it.
# RFC 9110 section 15: status codes outside 100..599 are invalid.
_STATUS_LINE = re.compile(
    rb"HTTP/([0-9])\.([0-9]) ([1-5][0-9]{2})(?: ([\t \x21-\x7e\x80-\xff]*))?"
)
# RFC 9110 section 5.5: field-vchar = VCHAR / obs-text, with SP and HTAB
# inside; every other control character (NUL, CR, LF, VT...) is refused.
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_VALUE_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# A whole field line as _parse_fields accepts it: a token, a colon, and a
# value without those characters, its surrounding SP and HTAB outside the
# group. Written so that each line can match one way only (a value starts
# and ends with a character that is not SP or HTAB), which keeps a failing
# match linear in the line's length.
_VCHAR = rb"[^\x00-\x08\x0a-\x1f\x7f \t]"
_FIELD_LINE = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:"
    + _VCHAR
    + rb"(?:[^\x00-\x08\x0a-\x1f\x7f]*"
    + _VCHAR
    + rb")?)?)[ \t]*"
)
# A CR that is not followed by LF, or an LF that does not follow a CR.
_BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def _find_bare_cr_or_lf(buf: bytearray, start: int, stop: int) -> int:
    """The position of the first CR or LF in ``buf[start:stop]`` that is
    not part of a CRLF, or -1.

    Counting is a fast memchr-like scan; the regular expression, some ten
    times slower, only runs when the counts show that there is one.
    """
    crlf = buf.count(b"\r\n", start, stop)
    if buf.count(b"\r", start, stop) == crlf and buf.count(b"\n", start, stop) == crlf:
        return -1  # every CR and every LF is in one of the CRLFs
    match = _BARE_CR_OR_LF.search(buf, start, stop)
    return -1 if match is None else match.start()


_DIGITS = re.compile(rb"[0-9]+")
# RFC 9110 section 7.2: Host = uri-host [ ":" port ], with uri-host a
# registered name (RFC 3986 unreserved, pct-encoded and sub-delims but ","),
# an IPv4 address or a bracketed IP literal. Empty is allowed.
_HOST = re.compile(
    r"(?:[A-Za-z0-9\-._~%!$&'()*+;=]+|\[[0-9A-Fa-f:.vV]+\])?(?::[0-9]*)?"
)
# RFC 9112 section 7.1: chunk-size [ chunk-ext ] with
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ).
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_TOKEN_RE = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]+)((?:[ \t]*;[ \t]*"
    + _TOKEN_RE
    + rb"(?:[ \t]*=[ \t]*(?:"
    + _TOKEN_RE
    + rb"|"
    + _QUOTED
    + rb"))?)*)"
)
# Chunk sizes are at most 16 hexadecimal digits (a 64-bit length): a longer
# size would be read differently by peers that store it in a machine word.
_MAX_CHUNK_DIGITS = 16
# A Content-Length of more than 18 digits cannot be a real body.
_MAX_LENGTH_DIGITS = 18

Headers = List[Tuple[str, str]]


class HTTPParseError(WebSocketError):
    """The peer sent bytes that are not a valid HTTP/1.1 message.

    A server answers with :attr:`status` and :attr:`reason` and closes the
    connection: after a framing error, where the next request starts is
    unknown.

    Attributes:
        status: the HTTP status to answer a request with: 400, 414, 431, 501
            or 505.
        reason: what is wrong, in a sentence that is safe to send back.
        response_status: when a response was being read, its status code
            if the status line could be read, else ``None``.
    """

    def __init__(
        self, status: int, reason: str, *, response_status: Optional[int] = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.response_status = response_status


@dataclass(frozen=True)
class Limits:
    """Security limits on what a peer may send (each is a maximum).

    Attributes:
        max_request_line: bytes in the request line, without its CRLF (414).
        max_headers: header lines in a head (431).
        max_head_size: bytes in a whole head, CRLFs included (431).
        max_chunk_line: bytes in a chunk-size line with its extensions (400).
        max_trailer_size: bytes in the trailer section of a chunked body
            (431).
    """

    max_request_line: int = 8192
    max_headers: int = 100
    max_head_size: int = 64 * 1024
    max_chunk_line: int = 4096
    max_trailer_size: int = 8192


#: The limits used when none are given.
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class RequestHead:
    """A request head, validated.

    Attributes:
        method: the method, e.g. ``"GET"`` (a token; case matters).
        target: the request target as sent, e.g. ``"/chat?room=1"``.
        version: ``"HTTP/1.1"`` or ``"HTTP/1.0"``.
        headers: ``(name, value)`` pairs in the order received; names as
            sent, values without surrounding whitespace, both decoded as
            ISO-8859-1.
        content_length: the body length, or ``None`` when there is no
            ``Content-Length`` (a chunked body, or no body).
        chunked: whether the body uses the chunked transfer coding.
        keep_alive: whether the connection may carry another request.
    """

    method: str
    target: str
    version: str
    headers: Headers = field(default_factory=list)
    content_length: Optional[int] = None
    chunked: bool = False
    keep_alive: bool = True

    def get_all(self, name: str) -> List[str]:
        """Return the values of every field named ``name`` (any case)."""
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]


@dataclass(frozen=True)
class ResponseHead:
    """A response head, validated.

    Attributes:
        version: e.g. ``"HTTP/1.1"``.
        status: the status code, e.g. ``101``.
        phrase: the reason phrase, possibly empty.
        headers: ``(name, value)`` pairs, as in :class:`RequestHead`.
    """

    version: str
    status: int
    phrase: str
    headers: Headers = field(default_factory=list)

    def get_all(self, name: str) -> List[str]:
        """Return the values of every field named ``name`` (any case)."""
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]


def _short(data: Union[bytes, str]) -> str:
    """A bounded, printable rendering of peer data for an error message."""
    return repr(data[:60])


def check_field(name: str, value: str) -> None:
    """Check a field this side is about to send (RFC 9110 section 5).

    Args:
        name: the field name; must be a token.
        value: the field value; must be ISO-8859-1 without control
            characters other than HTAB (so no CR, LF or NUL).

    Raises:
        ValueError: saying which of the two is invalid.
    """
    if _TOKEN.fullmatch(name.encode("latin-1", "replace")) is None:
        raise ValueError(f"invalid header name {name!r}")
    if _BAD_VALUE_TEXT.search(value) or not _is_latin1(value):
        raise ValueError(f"header {name!r}: invalid characters in the value")


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _parse_fields(
    lines: List[bytes], limits: Limits, *, unfold: bool, response_status: Optional[int]
) -> Headers:
    """Parse ``field-name ":" OWS field-value OWS`` lines (RFC 9112 section 5)."""

    def fail(reason: str, status: int = 400) -> HTTPParseError:
        return HTTPParseError(status, reason, response_status=response_status)

    if len(lines) > limits.max_headers:
        raise fail(f"more than {limits.max_headers} header lines", 431)
    headers: Headers = []
    field_line = _FIELD_LINE.fullmatch
    for line in lines:
        match = field_line(line)
        if match is not None:
            name, value = match.groups()
            headers.append((name.decode("ascii"), value.decode("latin-1")))
            continue
        # Not a plain field line: fold it, or refuse it with the reason.
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 section 5.2: a server "MUST either reject the message
            # by sending a 400 (Bad Request) [...] or replace each received
            # obs-fold with one or more SP octets"; a user agent "MUST
            # replace each received obs-fold with one or more SP octets".
            if not unfold:
                raise fail(
                    f"malformed header line {_short(line)}: line folding "
                    f"(obs-fold) is not allowed"
                )
            if not headers or _BAD_VALUE.search(line):
                raise fail(f"malformed header line {_short(line)}")
            name, value = headers[-1]
            folded = line.strip(b" \t").decode("latin-1")
            headers[-1] = (name, f"{value} {folded}" if value else folded)
            continue
        raw_name, colon, raw_value = line.partition(b":")
        # RFC 9112 section 5.1: "No whitespace is allowed between the field
        # name and colon. [...] A server MUST reject, with a response status
        # code of 400 (Bad Request), any received request message that
        # contains whitespace between a header field name and colon."
        if not colon or _TOKEN.fullmatch(raw_name) is None:
            raise fail(f"malformed header line {_short(line)}")
        raw_value = raw_value.strip(b" \t")
        # RFC 9110 section 5.5: "Field values containing CR, LF, or NUL
        # characters are invalid and dangerous".
        if _BAD_VALUE.search(raw_value):
            raise fail(f"invalid characters in header {_short(raw_name)}")
        headers.append((raw_name.decode("ascii"), raw_value.decode("latin-1")))
    return headers


def _list_items(values: List[str]) -> List[str]:
    """Split ``#rule`` values on commas, dropping empty elements (RFC 9110 5.6.1)."""
    items = (item.strip(" \t") for value in values for item in value.split(","))
    return [item for item in items if item]


def parse_request(head: bytes, limits: Limits = DEFAULT_LIMITS) -> RequestHead:
    """Parse a complete request head (without the final empty line).

    Args:
        head: the request line and header lines, separated by CRLF.
        limits: the security limits.

    Returns:
        the request, with its body framing decided.

    Raises:
        HTTPParseError: the head is not a valid request (see the module
            documentation for each status).
    """
    lines = head.split(b"\r\n")
    request_line = lines[0]
    if len(request_line) > limits.max_request_line:
        raise HTTPParseError(
            414, f"request line longer than {limits.max_request_line} bytes"
        )
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise HTTPParseError(400, f"malformed request line {_short(request_line)}")
    method, target, version = parts
    if _TOKEN.fullmatch(method) is None:
        raise HTTPParseError(400, f"invalid method {_short(method)}")
    if _TARGET.fullmatch(target) is None:
        raise HTTPParseError(400, f"invalid request target {_short(target)}")
    match = _VERSION.fullmatch(version)
    if match is None:
        raise HTTPParseError(400, f"malformed HTTP version {_short(version)}")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HTTPParseError(
            505, f"{version.decode('ascii')} is not supported: use HTTP/1.1"
        )
    headers = _parse_fields(lines[1:], limits, unfold=False, response_status=None)
    http11 = version == b"HTTP/1.1"

    # The fields that decide the framing and the connection, in one pass.
    hosts: List[str] = []
    codings_values: List[str] = []
    lengths: List[str] = []
    connection: List[str] = []
    framing = {
        "host": hosts,
        "transfer-encoding": codings_values,
        "content-length": lengths,
        "connection": connection,
    }
    for key, value in headers:
        found = framing.get(key.lower())
        if found is not None:
            found.append(value)

    # RFC 9112 section 3.2: "A server MUST respond with a 400 (Bad Request)
    # status code to any HTTP/1.1 request message that lacks a Host header
    # field and to any request message that contains more than one Host
    # header field line or a Host header field with an invalid field value."
    if len(hosts) > 1:
        raise HTTPParseError(400, "more than one Host header")
    if http11 and not hosts:
        raise HTTPParseError(400, "missing Host header")
    if hosts and _HOST.fullmatch(hosts[0]) is None:
        raise HTTPParseError(400, f"invalid Host header {_short(hosts[0])}")

    chunked = False
    content_length: Optional[int] = None
    if codings_values:
        # RFC 9112 section 6.1: "A server or client that receives an
        # HTTP/1.0 message containing a Transfer-Encoding header field MUST
        # treat the message as if the framing is faulty".
        if not http11:
            raise HTTPParseError(400, "Transfer-Encoding in an HTTP/1.0 request")
        # Section 6.3: a message with both "ought to be handled as an error"
        # (request smuggling); a server "MAY reject" it: it does.
        if lengths:
            raise HTTPParseError(
                400, "both Transfer-Encoding and Content-Length: send only one"
            )
        codings = [item.lower() for item in _list_items(codings_values)]
        for coding in codings:
            if _TOKEN.fullmatch(coding.encode("latin-1")) is None:
                raise HTTPParseError(
                    400,
                    f"malformed Transfer-Encoding {_short(', '.join(codings_values))}",
                )
        # Section 6.3: "If a Transfer-Encoding header field is present in a
        # request and the chunked transfer coding is not the final encoding,
        # the message body length cannot be determined reliably; the server
        # MUST respond with the 400 (Bad Request) status code".
        if not codings or codings[-1] != "chunked":
            raise HTTPParseError(400, "Transfer-Encoding must end with chunked")
        # Section 7: "A sender MUST NOT apply the chunked transfer coding
        # more than once to a message body".
        if codings.count("chunked") > 1:
            raise HTTPParseError(400, "chunked applied more than once")
        if len(codings) > 1:
            # Section 6.1: "A server that receives a request message with a
            # transfer coding it does not understand SHOULD respond with 501".
            raise HTTPParseError(
                501,
                f"Transfer-Encoding {codings[0]!r} is not supported: only chunked is",
            )
        chunked = True
    elif lengths:
        # RFC 9110 section 8.6: Content-Length = 1*DIGIT. "+5", "-1", "5 5",
        # "0x5" and repeated values (equal or not) are all refused: a proxy in
        # front may read them otherwise.
        if len(lengths) > 1 or "," in lengths[0]:
            raise HTTPParseError(400, "more than one Content-Length")
        raw = lengths[0].encode("latin-1")
        if _DIGITS.fullmatch(raw) is None:
            raise HTTPParseError(400, f"invalid Content-Length {_short(lengths[0])}")
        if len(raw) > _MAX_LENGTH_DIGITS:
            raise HTTPParseError(400, "Content-Length too large")
        content_length = int(raw)

    options = {item.lower() for item in _list_items(connection)}
    keep_alive = "close" not in options if http11 else "keep-alive" in options
    return RequestHead(
        method=method.decode("ascii"),
        target=target.decode("ascii"),
        version=version.decode("ascii"),
        headers=headers,
        content_length=content_length,
        chunked=chunked,
        keep_alive=keep_alive,
    )


def parse_response(head: bytes, limits: Limits = DEFAULT_LIMITS) -> ResponseHead:
    """Parse a complete response head (without the final empty line).

    Args:
        head: the status line and header lines, separated by CRLF.
        limits: the security limits (``max_headers`` applies).

    Returns:
        the response.

    Raises:
        HTTPParseError: the head is not a valid response; its
            ``response_status`` is set once the status line was read.
    """
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise HTTPParseError(400, f"malformed status line {lines[0][:100]!r}")
    status = int(match.group(3))
    headers = _parse_fields(lines[1:], limits, unfold=True, response_status=status)
    return ResponseHead(
        version=f"HTTP/{match.group(1).decode()}.{match.group(2).decode()}",
        status=status,
        phrase=(match.group(4) or b"").decode("latin-1"),
        headers=headers,
    )


class _HeadReader:
    """Find one head in a growing buffer; shared by the two readers below."""

    kind = "request"
    skip_empty_lines = False

    __slots__ = ("limits", "_scanned")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._scanned = 0

    def _parse(self, head: bytes) -> Union[RequestHead, ResponseHead]:
        raise NotImplementedError

    def _too_large(self, size: int) -> HTTPParseError:
        return HTTPParseError(431, f"{self.kind} head larger than {size} bytes")

    def _read(self, buf: bytearray) -> Optional[Union[RequestHead, ResponseHead]]:
        if self._scanned == 0 and self.skip_empty_lines:
            # RFC 9112 section 2.2: "a server that is expecting to receive
            # and parse a request-line SHOULD ignore at least one empty line
            # (CRLF) received prior to the request-line."
            start = 0
            while buf.startswith(b"\r\n", start):
                start += 2
            if start:
                del buf[:start]
            if buf == b"\r":
                return None  # maybe one more empty line
        limit = self.limits.max_head_size
        end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end >= 0:
            stop = end + 4
        else:
            # A CR at the very end may be the start of a CRLF.
            stop = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
        # RFC 9112 section 2.2: only CRLF ends a line here. A bare LF, which
        # a recipient MAY accept, is refused too: a proxy in front that reads
        # the line ends otherwise would see other requests than we do. A
        # bare CR "MUST" be refused or replaced.
        bare = _find_bare_cr_or_lf(buf, max(0, self._scanned - 1), stop)
        if bare >= 0:
            self._scanned = 0
            line_end = buf.find(b"\r\n", bare)
            head = bytes(buf[: line_end if line_end >= 0 else len(buf)])
            del buf[:]
            # The offending line fails to parse, with a precise reason.
            self._parse(head)
            raise HTTPParseError(400, "bare CR or LF in the head: end lines with CRLF")
        if end < 0:
            self._scanned = len(buf)
            if len(buf) >= limit:
                raise self._too_large(limit)
            self._check_partial(buf)
            return None
        self._scanned = 0
        if end + 4 > limit:
            raise self._too_large(limit)
        head = bytes(buf[:end])
        del buf[: end + 4]
        return self._parse(head)

    def _check_partial(self, buf: bytearray) -> None:
        """Refuse an incomplete head early when it already breaks a limit."""


class RequestReader(_HeadReader):
    """Read request heads from a connection's buffer, one after another.

    Example::

        reader = RequestReader()
        buf = bytearray()
        while (request := reader.read(buf)) is None:
            buf += sock.recv(65536)   # the caller does the I/O
    """

    __slots__ = ()

    skip_empty_lines = True

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)

    def _parse(self, head: bytes) -> RequestHead:
        return parse_request(head, self.limits)

    def _check_partial(self, buf: bytearray) -> None:
        if buf.find(b"\r\n") < 0 and len(buf) > self.limits.max_request_line:
            raise HTTPParseError(
                414, f"request line longer than {self.limits.max_request_line} bytes"
            )

    def read(self, buf: bytearray) -> Optional[RequestHead]:
        """Take one request head from the start of ``buf``.

        Args:
            buf: the bytes received so far; the head and the empty line that
                ends it are removed from it, what follows (the body, the next
                request, WebSocket frames) stays.

        Returns:
            the request, or ``None`` while the head is incomplete.

        Raises:
            HTTPParseError: the bytes are not a valid request head. The
                connection cannot be used after that: answer and close it.
        """
        result = self._read(buf)
        assert result is None or isinstance(result, RequestHead)
        return result


class ResponseReader(_HeadReader):
    """Read a response head from a connection's buffer.

    Like :class:`RequestReader`; a head larger than ``max_head_size`` raises
    :class:`HTTPParseError` whose reason says "response head larger than".
    """

    __slots__ = ()

    kind = "response"

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)

    def _parse(self, head: bytes) -> ResponseHead:
        return parse_response(head, self.limits)

    def read(self, buf: bytearray) -> Optional[ResponseHead]:
        """Take one response head from the start of ``buf``.

        Returns:
            the response, or ``None`` while the head is incomplete.

        Raises:
            HTTPParseError: the bytes are not a valid response head.
        """
        result = self._read(buf)
        assert result is None or isinstance(result, ResponseHead)
        return result


class LengthReader:
    """The reader of a body of known length (``Content-Length``)."""

    def __init__(self, length: int) -> None:
        self.remaining = length

    @property
    def done(self) -> bool:
        """Whether the whole body was read."""
        return self.remaining == 0

    def read(self, buf: bytearray, size: int) -> Optional[bytes]:
        """Take up to ``size`` body bytes from the start of ``buf``.

        Returns:
            body bytes; ``b""`` at the end of the body; ``None`` when ``buf``
            holds none and more must be received.
        """
        if self.remaining == 0:
            return b""
        if not buf:
            return None
        n = min(size, self.remaining, len(buf))
        data = bytes(buf[:n])
        del buf[:n]
        self.remaining -= n
        return data


class ChunkedReader:
    """The reader of a chunked body (RFC 9112 section 7.1).

    Chunk extensions are checked and ignored; trailer fields are checked and
    dropped (WSGI has no place for them).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._left = 0  # bytes left in the current chunk
        self._state = "size"  # size, data, crlf, trailer, done
        self._scanned = 0  # trailer bytes already checked

    @property
    def done(self) -> bool:
        """Whether the whole body, trailers included, was read."""
        return self._state == "done"

    def _line(self, buf: bytearray, limit: int, what: str) -> Optional[bytes]:
        i = buf.find(b"\n")
        if i < 0:
            if len(buf) > limit:
                raise HTTPParseError(400, f"{what} longer than {limit} bytes")
            return None
        if i == 0 or buf[i - 1] != 0x0D:
            raise HTTPParseError(400, f"bare LF in the {what}: end lines with CRLF")
        if i - 1 > limit:
            raise HTTPParseError(400, f"{what} longer than {limit} bytes")
        line = bytes(buf[: i - 1])
        del buf[: i + 1]
        return line

    def read(self, buf: bytearray, size: int) -> Optional[bytes]:
        """Take up to ``size`` body bytes from the start of ``buf``.

        Returns:
            body bytes; ``b""`` at the end of the body; ``None`` when more
            must be received.

        Raises:
            HTTPParseError: a malformed chunk (400) or trailers over the
                limit (431).
        """
        while True:
            state = self._state
            if state == "done":
                return b""
            if state == "size":
                line = self._line(buf, self.limits.max_chunk_line, "chunk size line")
                if line is None:
                    return None
                match = _CHUNK_LINE.fullmatch(line)
                if match is None:
                    raise HTTPParseError(
                        400, f"malformed chunk size line {_short(line)}"
                    )
                digits = match.group(1)
                if len(digits) > _MAX_CHUNK_DIGITS:
                    raise HTTPParseError(400, "chunk size too large")
                self._left = int(digits, 16)
                self._state = "data" if self._left else "trailer"
                continue
            if state == "data":
                if not buf:
                    return None
                n = min(size, self._left, len(buf))
                data = bytes(buf[:n])
                del buf[:n]
                self._left -= n
                if self._left == 0:
                    self._state = "crlf"
                return data
            if state == "crlf":
                if len(buf) < 2:
                    if buf and buf[:1] != b"\r":
                        raise HTTPParseError(400, "chunk data not followed by CRLF")
                    return None
                if buf[:2] != b"\r\n":
                    raise HTTPParseError(400, "chunk data not followed by CRLF")
                del buf[:2]
                self._state = "size"
                continue
            # trailer-section = *( field-line CRLF ) CRLF
            if buf[:2] == b"\r\n":
                del buf[:2]
                self._state = "done"
                return b""
            if not buf or buf == b"\r":
                return None
            # What earlier calls scanned is not scanned again: a client that
            # sends its trailers a byte at a time costs linear time.
            scanned = self._scanned
            end = buf.find(b"\r\n\r\n", max(0, scanned - 3))
            limit = self.limits.max_trailer_size
            if end >= 0:
                region = end + 4
            else:
                region = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
            if _find_bare_cr_or_lf(buf, max(0, scanned - 1), region) >= 0:
                raise HTTPParseError(
                    400, "bare CR or LF in the trailers: end lines with CRLF"
                )
            if end < 0:
                if len(buf) >= limit:
                    raise HTTPParseError(431, f"trailers larger than {limit} bytes")
                self._scanned = region
                return None
            if end + 4 > limit:
                raise HTTPParseError(431, f"trailers larger than {limit} bytes")
            _parse_fields(
                bytes(buf[:end]).split(b"\r\n"),
                self.limits,
                unfold=False,
                response_status=None,
            )
            del buf[: end + 4]
            self._state = "done"
            return b""


BodyReader = Union[LengthReader, ChunkedReader]


def body_reader(request: RequestHead, limits: Limits = DEFAULT_LIMITS) -> BodyReader:
    """Return the reader of ``request``'s body.

    RFC 9112 section 6.3: a request with neither ``Transfer-Encoding`` nor
    ``Content-Length`` has no body.
    """
    if request.chunked:
        return ChunkedReader(limits)
    return LengthReader(request.content_length or 0)
