"""Tests for wsocket.frames: headers, frames and close payloads.

The golden byte strings come from the examples of RFC 6455 section 5.7, and
are checked both with :meth:`Frame.parse` / :meth:`Frame.serialize` and with
a :class:`~wsocket.protocol.Protocol`; both read headers with
:func:`~wsocket.frames.parse_header`.
Masks are made deterministic by patching the random source with the masking
key of the RFC examples.
"""

from __future__ import annotations

import struct
from typing import Optional

import pytest

from wsocket import frames as frames_module
from wsocket import protocol as protocol_module
from wsocket.exceptions import PayloadTooBig, ProtocolError
from wsocket.frames import (
    CONTROL_OPCODES,
    DATA_OPCODES,
    CloseCode,
    Frame,
    Opcode,
    build_header,
    encode_frame,
    is_sendable_close_code,
    is_valid_close_code,
    parse_close,
    parse_header,
    serialize_close,
)
from wsocket.protocol import (
    CLIENT,
    SERVER,
    BinaryMessage,
    Ping,
    Pong,
    Protocol,
    TextMessage,
)
from wsocket.utils import apply_mask as python_apply_mask

# The masking key of every masked example in RFC 6455 section 5.7.
RFC_MASK = bytes.fromhex("37fa213d")

# RFC 6455 section 5.7, "Examples".
HELLO_UNMASKED = bytes.fromhex("8105 48656c6c6f")
HELLO_MASKED = bytes.fromhex("8185 37fa213d 7f9f4d5158")
HEL_FRAGMENT = bytes.fromhex("0103 48656c")
LO_FRAGMENT = bytes.fromhex("8002 6c6f")
PING_HELLO_UNMASKED = bytes.fromhex("8905 48656c6c6f")
PONG_HELLO_MASKED = bytes.fromhex("8a85 37fa213d 7f9f4d5158")
BINARY_256_HEADER = bytes.fromhex("827e 0100")
BINARY_65536_HEADER = bytes.fromhex("827f 0000000000010000")


@pytest.fixture
def rfc_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every masking key the one of the RFC examples."""

    def fixed(n: int) -> bytes:
        assert n == 4
        return RFC_MASK

    # Frame.serialize looks up os.urandom at call time; Protocol binds it at
    # import for speed, under the name _urandom.
    monkeypatch.setattr(frames_module.os, "urandom", fixed)
    monkeypatch.setattr(protocol_module, "_urandom", fixed)


def binary_payload(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


# -- RFC 6455 section 5.7 examples with Frame.parse ----------------------------


@pytest.mark.parametrize(
    ("data", "mask", "expected"),
    [
        (HELLO_UNMASKED, False, Frame(Opcode.TEXT, b"Hello")),
        (HELLO_MASKED, True, Frame(Opcode.TEXT, b"Hello")),
        (HEL_FRAGMENT, False, Frame(Opcode.TEXT, b"Hel", fin=False)),
        (LO_FRAGMENT, False, Frame(Opcode.CONT, b"lo")),
        (PING_HELLO_UNMASKED, False, Frame(Opcode.PING, b"Hello")),
        (PONG_HELLO_MASKED, True, Frame(Opcode.PONG, b"Hello")),
    ],
    ids=["text", "masked-text", "fragment-1", "fragment-2", "ping", "masked-pong"],
)
def test_parse_rfc_examples(data: bytes, mask: bool, expected: Frame) -> None:
    assert Frame.parse(data, mask=mask) == (expected, len(data))
    # mask=None accepts both kinds.
    assert Frame.parse(data, mask=None) == (expected, len(data))
    # Trailing bytes belong to the next frame and are not consumed.
    assert Frame.parse(data + b"\x81", mask=mask) == (expected, len(data))


@pytest.mark.parametrize(
    ("header", "size"),
    [(BINARY_256_HEADER, 256), (BINARY_65536_HEADER, 65536)],
    ids=["256", "65536"],
)
def test_parse_rfc_binary_examples(header: bytes, size: int) -> None:
    payload = binary_payload(size)
    frame, consumed = Frame.parse(header + payload, mask=False)  # type: ignore[misc]
    assert consumed == len(header) + size
    assert frame == Frame(Opcode.BINARY, payload)


@pytest.mark.parametrize(
    ("data", "mask"),
    [(HELLO_UNMASKED, True), (HELLO_MASKED, False)],
    ids=["unmasked-but-mask-required", "masked-but-unmasked-required"],
)
def test_parse_rejects_wrong_masking(data: bytes, mask: bool) -> None:
    with pytest.raises(ProtocolError) as exc_info:
        Frame.parse(data, mask=mask)
    assert exc_info.value.code == 1002


@pytest.mark.parametrize(
    "data",
    [
        HELLO_UNMASKED,
        HELLO_MASKED,
        BINARY_256_HEADER + binary_payload(256),
        BINARY_65536_HEADER + binary_payload(65536),
    ],
    ids=["text", "masked-text", "256", "65536"],
)
def test_parse_needs_the_whole_frame(data: bytes) -> None:
    # Every strict prefix is "not enough data yet", including the ones that
    # end inside the extended length and inside the masking key.
    for cut in (0, 1, 2, 3, 5, 9, 10, len(data) - 1):
        if cut < len(data):
            assert Frame.parse(data[:cut]) is None, cut
    assert Frame.parse(data) is not None


# -- RFC 6455 section 5.7 examples with Protocol -------------------------------


def test_protocol_client_receives_rfc_examples() -> None:
    client = Protocol(CLIENT)
    client.receive_data(HELLO_UNMASKED + HEL_FRAGMENT + LO_FRAGMENT)
    client.receive_data(BINARY_256_HEADER + binary_payload(256))
    client.receive_data(BINARY_65536_HEADER + binary_payload(65536))
    assert client.events_received() == [
        TextMessage("Hello"),
        TextMessage("Hello"),
        BinaryMessage(binary_payload(256)),
        BinaryMessage(binary_payload(65536)),
    ]
    assert client.failure is None


def test_protocol_server_receives_rfc_examples() -> None:
    server = Protocol(SERVER)
    server.receive_data(HELLO_MASKED + PONG_HELLO_MASKED)
    assert server.events_received() == [TextMessage("Hello"), Pong(b"Hello")]
    assert server.data_to_send() == []  # a Pong needs no answer
    assert server.failure is None


def test_protocol_client_answers_rfc_ping_with_rfc_pong(rfc_mask: None) -> None:
    # The two control-frame examples of section 5.7 are one exchange: the
    # unmasked Ping from a server and the masked Pong a client answers with.
    client = Protocol(CLIENT)
    client.receive_data(PING_HELLO_UNMASKED)
    assert client.events_received() == [Ping(b"Hello")]
    assert client.data_to_send() == [PONG_HELLO_MASKED]


def test_protocol_builds_rfc_examples(rfc_mask: None) -> None:
    client = Protocol(CLIENT)
    client.send_text("Hello")
    assert client.data_to_send() == [HELLO_MASKED]

    server = Protocol(SERVER)
    server.send_text("Hello")
    server.send_text("Hel", fin=False)
    server.send_continuation("lo", fin=True)
    server.send_ping(b"Hello")
    assert b"".join(server.data_to_send()) == (
        HELLO_UNMASKED + HEL_FRAGMENT + LO_FRAGMENT + PING_HELLO_UNMASKED
    )


@pytest.mark.parametrize(
    ("header", "size"),
    [(BINARY_256_HEADER, 256), (BINARY_65536_HEADER, 65536)],
    ids=["256", "65536"],
)
def test_protocol_builds_rfc_binary_examples(header: bytes, size: int) -> None:
    server = Protocol(SERVER)
    payload = binary_payload(size)
    server.send_binary(payload)
    assert b"".join(server.data_to_send()) == header + payload


# -- build_header and Frame.serialize ------------------------------------------


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, "8200"),
        (1, "8201"),
        (125, "827d"),
        (126, "827e007e"),
        (127, "827e007f"),
        (65535, "827effff"),
        (65536, "827f0000000000010000"),
        (2**32, "827f0000000100000000"),
        (2**63 - 1, "827f7fffffffffffffff"),
    ],
)
def test_build_header_length_boundaries(length: int, expected: str) -> None:
    assert build_header(Opcode.BINARY, length) == bytes.fromhex(expected)


@pytest.mark.parametrize(
    ("length", "length_bytes"),
    [
        (0, "80"),
        (125, "fd"),
        (126, "fe007e"),
        (65535, "feffff"),
        (65536, "ff0000000000010000"),
    ],
)
def test_build_header_masked(length: int, length_bytes: str) -> None:
    expected = bytes.fromhex("81" + length_bytes) + RFC_MASK
    assert build_header(Opcode.TEXT, length, mask=RFC_MASK) == expected


@pytest.mark.parametrize(
    ("kwargs", "first_byte"),
    [
        ({}, 0x81),
        ({"fin": False}, 0x01),
        ({"rsv1": True}, 0xC1),
        ({"fin": False, "rsv1": True}, 0x41),
    ],
)
def test_build_header_flags(kwargs: dict, first_byte: int) -> None:
    assert build_header(Opcode.TEXT, 5, **kwargs) == bytes((first_byte, 5))


def test_serialize_rfc_examples(rfc_mask: None) -> None:
    assert Frame(Opcode.TEXT, b"Hello").serialize(mask=False) == HELLO_UNMASKED
    assert Frame(Opcode.TEXT, b"Hello").serialize(mask=True) == HELLO_MASKED
    assert Frame(Opcode.TEXT, b"Hel", fin=False).serialize(mask=False) == HEL_FRAGMENT
    assert Frame(Opcode.CONT, b"lo").serialize(mask=False) == LO_FRAGMENT
    assert Frame(Opcode.PING, b"Hello").serialize(mask=False) == PING_HELLO_UNMASKED
    assert Frame(Opcode.PONG, b"Hello").serialize(mask=True) == PONG_HELLO_MASKED
    payload = binary_payload(256)
    assert Frame(Opcode.BINARY, payload).serialize(mask=False) == (
        BINARY_256_HEADER + payload
    )
    payload = binary_payload(65536)
    assert Frame(Opcode.BINARY, payload).serialize(mask=False) == (
        BINARY_65536_HEADER + payload
    )


def test_serialize_masks_with_a_fresh_key_each_time() -> None:
    frame = Frame(Opcode.BINARY, bytes(64))
    first = frame.serialize(mask=True)
    second = frame.serialize(mask=True)
    # The payload is zeros, so the masked payload is the key repeated.
    assert first[6:] == first[2:6] * 16
    assert second[6:] == second[2:6] * 16
    # 2**-32 chance of a spurious failure.
    assert first[2:6] != second[2:6]


@pytest.mark.parametrize(
    ("rsv", "first_byte"),
    [
        ((True, False, False), 0xC2),
        ((False, True, False), 0xA2),
        ((False, False, True), 0x92),
        ((True, True, True), 0xF2),
    ],
)
def test_serialize_reserved_bits(rsv: tuple[bool, bool, bool], first_byte: int) -> None:
    frame = Frame(Opcode.BINARY, b"x", True, *rsv)
    data = frame.serialize(mask=False)
    assert data == bytes((first_byte, 1)) + b"x"
    assert Frame.parse(data) == (frame, 3)


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("mask", [False, True])
def test_serialize_parse_round_trip(length: int, mask: bool) -> None:
    frame = Frame(Opcode.BINARY, binary_payload(length), fin=length % 2 == 0)
    data = frame.serialize(mask=mask)
    header_size = (2 if length < 126 else 4 if length < 65536 else 10) + 4 * mask
    assert len(data) == header_size + length
    assert Frame.parse(data, mask=mask) == (frame, len(data))


# -- Frame.parse limits --------------------------------------------------------


def test_parse_max_size_at_the_limit() -> None:
    data = Frame(Opcode.BINARY, bytes(1000)).serialize(mask=True)
    assert Frame.parse(data, max_size=1000) is not None


@pytest.mark.parametrize("length", [1001, 65536, 2**40])
def test_parse_max_size_from_the_header_alone(length: int) -> None:
    # The header is enough: the payload is never waited for.
    header = build_header(Opcode.BINARY, length, mask=RFC_MASK)
    with pytest.raises(PayloadTooBig) as exc_info:
        Frame.parse(header[:-4], max_size=1000)
    assert exc_info.value.code == 1009


def test_parse_length_with_most_significant_bit_set() -> None:
    data = bytes.fromhex("827f 8000000000000000")
    with pytest.raises(ProtocolError) as exc_info:
        Frame.parse(data)
    assert exc_info.value.code == 1002


# -- parse_header: the one header parser ----------------------------------------


@pytest.mark.parametrize(
    ("data", "mask", "expected"),
    [
        (HELLO_UNMASKED, False, (0x81, 5, 2, None)),
        (HELLO_MASKED, True, (0x81, 5, 6, RFC_MASK)),
        (HEL_FRAGMENT, None, (0x01, 3, 2, None)),
        (PONG_HELLO_MASKED, None, (0x8A, 5, 6, RFC_MASK)),
        (BINARY_256_HEADER, False, (0x82, 256, 4, None)),
        (BINARY_65536_HEADER, False, (0x82, 65536, 10, None)),
    ],
    ids=["text", "masked-text", "fragment", "masked-pong", "256", "65536"],
)
def test_parse_header_rfc_examples(
    data: bytes, mask: Optional[bool], expected: tuple
) -> None:
    assert parse_header(data, 0, len(data), mask) == expected
    # The same header further into a buffer, with bytes after it.
    buffered = bytearray(b"\x00" * 7 + data + b"\x81")
    b0, length, start, key = expected
    assert parse_header(buffered, 7, len(buffered), mask) == (
        b0,
        length,
        start + 7,
        key,
    )


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 9])
def test_parse_header_waits_for_the_length(cut: int) -> None:
    data = BINARY_65536_HEADER
    assert parse_header(data, 0, cut, False) is None
    # ``end`` is what counts, not the length of the buffer.
    assert parse_header(data + bytes(100), 0, cut, False) is None


def test_parse_header_does_not_wait_for_the_masking_key() -> None:
    # The length is known without the key, so limits apply from it; the
    # payload offset says the frame is not complete.
    header = build_header(Opcode.BINARY, 2**20, mask=RFC_MASK)
    b0, length, start, _ = parse_header(header, 0, 10, True)  # type: ignore[misc]
    assert (b0, length, start) == (0x82, 2**20, 14)
    assert start > 10


# Headers that break a rule of RFC 6455 on any connection. Frame.parse and a
# Protocol must refuse them with the same message: one parser, one text.
HEADER_VIOLATIONS = [
    pytest.param(bytes.fromhex("837f 8000000000000000"), None, id="length-msb"),
    pytest.param(bytes.fromhex("8300"), None, id="reserved-opcode-3"),
    pytest.param(bytes.fromhex("8f00"), None, id="reserved-opcode-f"),
    pytest.param(bytes.fromhex("0900"), None, id="fragmented-ping"),
    pytest.param(bytes.fromhex("887e 007e") + bytes(126), None, id="long-close"),
    pytest.param(HELLO_UNMASKED, True, id="unmasked-to-server"),
    pytest.param(HELLO_MASKED, False, id="masked-to-client"),
]


@pytest.mark.parametrize(("data", "mask"), HEADER_VIOLATIONS)
def test_header_violations_same_in_frame_parse_and_protocol(
    data: bytes, mask: Optional[bool]
) -> None:
    with pytest.raises(ProtocolError) as exc_info:
        parse_header(data, 0, len(data), mask)
    message = str(exc_info.value)
    assert exc_info.value.code == 1002
    with pytest.raises(ProtocolError) as exc_info:
        Frame.parse(data, mask=mask)
    assert str(exc_info.value) == message
    # A protocol fails the connection with that error: the side that expects
    # this masking, or the side the frame could come to.
    if mask is None:
        mask = bool(data[1] & 0x80)
    protocol = Protocol(SERVER if mask else CLIENT)
    protocol.receive_data(data)
    assert protocol.failure is not None
    assert str(protocol.failure) == message
    assert protocol.close_code == 1002


def test_frame_parse_and_protocol_share_the_size_error() -> None:
    header = build_header(Opcode.BINARY, 1001, mask=RFC_MASK)
    with pytest.raises(PayloadTooBig) as exc_info:
        Frame.parse(header, max_size=1000)
    protocol = Protocol(SERVER, max_message_size=1000)
    protocol.receive_data(header)
    assert isinstance(protocol.failure, PayloadTooBig)
    assert str(protocol.failure) == str(exc_info.value)
    assert protocol.close_code == 1009


# -- Frame.check ---------------------------------------------------------------


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_check_reserved_opcodes(opcode: int) -> None:
    with pytest.raises(ProtocolError) as exc_info:
        Frame(opcode, b"").check()
    assert exc_info.value.code == 1002
    # Frame.parse applies the same check.
    with pytest.raises(ProtocolError):
        Frame.parse(bytes((0x80 | opcode, 0)))


@pytest.mark.parametrize("opcode", sorted(CONTROL_OPCODES))
def test_check_fragmented_control_frame(opcode: int) -> None:
    with pytest.raises(ProtocolError):
        Frame(opcode, b"", fin=False).check()
    with pytest.raises(ProtocolError):
        Frame.parse(bytes((opcode, 0)))


@pytest.mark.parametrize("opcode", sorted(CONTROL_OPCODES))
def test_check_control_frame_length(opcode: int) -> None:
    Frame(opcode, bytes(125)).check()
    with pytest.raises(ProtocolError):
        Frame(opcode, bytes(126)).check()
    with pytest.raises(ProtocolError):
        Frame.parse(Frame(opcode, bytes(126)).serialize(mask=False))


@pytest.mark.parametrize("opcode", sorted(DATA_OPCODES))
@pytest.mark.parametrize("fin", [True, False])
def test_check_accepts_data_frames(opcode: int, fin: bool) -> None:
    # No length limit and fragmentation allowed; check() returns None.
    assert Frame(opcode, bytes(70000), fin=fin).check() is None


def test_opcode_sets() -> None:
    assert DATA_OPCODES == {0x0, 0x1, 0x2}
    assert CONTROL_OPCODES == {0x8, 0x9, 0xA}
    assert [int(op) for op in Opcode] == [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]


# -- Frame.__str__ -------------------------------------------------------------


def test_str_short_payload() -> None:
    text = str(Frame(Opcode.TEXT, b"Hello"))
    assert "TEXT" in text
    assert "48 65 6c 6c 6f" in text
    assert "5 bytes" in text
    assert "..." not in text


def test_str_shortens_long_payloads() -> None:
    payload = bytes(range(256)) * 40
    text = str(Frame(Opcode.BINARY, payload, fin=False))
    assert "BINARY" in text
    assert "10240 bytes" in text
    assert "..." in text
    assert len(text) < 200
    # The start of the payload is shown, the end is not.
    assert "00 01 02" in text
    assert "fd fe ff" not in text


def test_str_reserved_opcode() -> None:
    assert "0xb" in str(Frame(0xB, b""))


# -- close payloads ------------------------------------------------------------

# (code, valid on the wire): RFC 6455 section 7.4 and the IANA registry.
CLOSE_CODES: list[tuple[int, bool]] = [
    (0, False),
    (999, False),
    (1000, True),
    (1001, True),
    (1002, True),
    (1003, True),
    (1004, False),  # reserved
    (1005, False),  # "MUST NOT be set as a status code in a Close control frame"
    (1006, False),  # likewise
    (1007, True),
    (1008, True),
    (1009, True),
    (1010, True),
    (1011, True),
    (1012, True),
    (1013, True),
    (1014, True),
    (1015, False),  # likewise
    (1016, False),  # unassigned
    (1100, False),
    (2000, False),
    (2999, False),
    (3000, True),  # libraries and frameworks
    (3999, True),
    (4000, True),  # applications
    (4999, True),
    (5000, False),
    (65535, False),
]
VALID_CODES = [code for code, valid in CLOSE_CODES if valid]
INVALID_CODES = [code for code, valid in CLOSE_CODES if not valid]


@pytest.mark.parametrize(("code", "valid"), CLOSE_CODES)
def test_is_valid_close_code(code: int, valid: bool) -> None:
    assert is_valid_close_code(code) is valid
    assert is_sendable_close_code(code) is valid


@pytest.mark.parametrize("code", VALID_CODES)
def test_close_payload_valid_codes(code: int) -> None:
    payload = serialize_close(code, "bye")
    assert payload == struct.pack("!H", code) + b"bye"
    assert parse_close(payload) == (code, "bye")
    assert parse_close(struct.pack("!H", code)) == (code, "")


@pytest.mark.parametrize("code", INVALID_CODES)
def test_close_payload_invalid_codes(code: int) -> None:
    with pytest.raises(ProtocolError) as exc_info:
        parse_close(struct.pack("!H", code) + b"bye")
    assert exc_info.value.code == 1002
    with pytest.raises(ValueError):
        serialize_close(code, "bye")


def test_close_payload_empty() -> None:
    assert parse_close(b"") == (1005, "")
    assert parse_close(b"") == (CloseCode.NO_STATUS_RCVD, "")
    assert serialize_close(None) == b""


def test_close_payload_one_byte() -> None:
    with pytest.raises(ProtocolError) as exc_info:
        parse_close(b"\x03")
    assert exc_info.value.code == 1002


@pytest.mark.parametrize(
    "reason", [b"\xff", b"ok\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]
)
def test_close_payload_invalid_utf8_reason(reason: bytes) -> None:
    with pytest.raises(ProtocolError) as exc_info:
        parse_close(b"\x03\xe8" + reason)
    assert exc_info.value.code == 1007


def test_close_payload_utf8_reason() -> None:
    reason = "café ☕ 😀"
    payload = serialize_close(1000, reason)
    assert payload == b"\x03\xe8" + reason.encode("utf-8")
    assert parse_close(payload) == (1000, reason)
    # Memoryviews and bytearrays parse alike.
    assert parse_close(memoryview(payload)) == (1000, reason)
    assert parse_close(bytearray(payload)) == (1000, reason)


def test_close_payload_reason_length() -> None:
    # A control payload is at most 125 bytes: 2 for the code, 123 for text.
    assert len(serialize_close(1000, "x" * 123)) == 125
    with pytest.raises(ValueError):
        serialize_close(1000, "x" * 124)
    # The limit counts UTF-8 bytes, not characters: 41 * 3 = 123, 42 * 3 = 126.
    assert len(serialize_close(1000, "€" * 41)) == 125
    with pytest.raises(ValueError):
        serialize_close(1000, "€" * 42)


def test_close_payload_reason_without_code() -> None:
    with pytest.raises(ValueError):
        serialize_close(None, "no code")


def test_close_code_names() -> None:
    assert CloseCode.NORMAL_CLOSURE == 1000
    assert CloseCode.PROTOCOL_ERROR == 1002
    assert CloseCode.NO_STATUS_RCVD == 1005
    assert CloseCode.ABNORMAL_CLOSURE == 1006
    assert CloseCode.INVALID_DATA == 1007
    assert CloseCode.MESSAGE_TOO_BIG == 1009
    assert CloseCode.TLS_HANDSHAKE == 1015


# -- masking -------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 1000])
def test_apply_mask_matches_the_pure_python_version(length: int) -> None:
    data = binary_payload(length)
    expected = python_apply_mask(data, RFC_MASK)
    assert frames_module.apply_mask(data, RFC_MASK) == expected
    assert bytes(frames_module.apply_mask(expected, RFC_MASK)) == data


def test_apply_mask_rfc_example() -> None:
    assert frames_module.apply_mask(b"Hello", RFC_MASK) == bytes.fromhex("7f9f4d5158")


def parse_all(data: bytes, mask: Optional[bool]) -> list[Frame]:
    frames = []
    while data:
        result = Frame.parse(data, mask=mask)
        assert result is not None
        frame, consumed = result
        frames.append(frame)
        data = data[consumed:]
    return frames


def test_parse_a_stream_of_frames() -> None:
    data = HELLO_UNMASKED + HEL_FRAGMENT + PING_HELLO_UNMASKED + LO_FRAGMENT
    assert parse_all(data, mask=False) == [
        Frame(Opcode.TEXT, b"Hello"),
        Frame(Opcode.TEXT, b"Hel", fin=False),
        Frame(Opcode.PING, b"Hello"),
        Frame(Opcode.CONT, b"lo"),
    ]


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_parse_bytes_like(wrap: type) -> None:
    data = HELLO_MASKED + BINARY_65536_HEADER + binary_payload(65536)
    frame, consumed = Frame.parse(wrap(data), mask=None)  # type: ignore[misc]
    assert (frame, consumed) == (Frame(Opcode.TEXT, b"Hello"), len(HELLO_MASKED))
    assert type(frame.payload) is bytes
    rest = wrap(data[consumed:])
    frame, consumed = Frame.parse(rest, mask=False)  # type: ignore[misc]
    assert frame == Frame(Opcode.BINARY, binary_payload(65536))
    assert type(frame.payload) is bytes


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_encode_frame_frames_a_whole_message_unmasked(size: int) -> None:
    payload = bytes(range(256)) * (size // 256 + 1)
    payload = payload[:size]
    if size < 126:
        header = struct.pack("!BB", 0x82, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x82, 126, size)
    else:
        header = struct.pack("!BBQ", 0x82, 127, size)
    assert encode_frame(payload) == header + payload
    text = "é" * (size // 2)
    encoded = text.encode("utf-8")
    frame = encode_frame(text)
    assert frame[0] == 0x81
    assert frame.endswith(encoded)
    result = Frame.parse(frame, mask=False)
    assert result is not None
    parsed, consumed = result
    assert consumed == len(frame)
    assert (parsed.opcode, parsed.fin, parsed.payload) == (Opcode.TEXT, True, encoded)
