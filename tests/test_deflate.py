"""Tests for wsocket.deflate: permessage-deflate (RFC 7692)."""

from __future__ import annotations

import ast
import itertools
import random
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate as TheirDeflate,
)
from websockets.frames import Frame, Opcode

from wsocket import deflate as deflate_module
from wsocket.deflate import (
    DeflateOptions,
    Params,
    PerMessageDeflate,
    client_accept,
    client_offer,
    server_negotiate,
)
from wsocket.exceptions import NegotiationError, PayloadTooBig, ProtocolError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TAIL = b"\x00\x00\xff\xff"
HELLO = bytes.fromhex("f2 48 cd c9 c9 07 00")


# -- Helpers ------------------------------------------------------------------


def make_pair(
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int = 15,
    client_max_window_bits: int = 15,
    **kwargs: Any,
) -> Tuple[PerMessageDeflate, PerMessageDeflate]:
    """Return (server, client) extensions that agreed on the same parameters."""
    params: Dict[str, Any] = dict(
        server_no_context_takeover=server_no_context_takeover,
        client_no_context_takeover=client_no_context_takeover,
        server_max_window_bits=server_max_window_bits,
        client_max_window_bits=client_max_window_bits,
        **kwargs,
    )
    return PerMessageDeflate(is_server=True, **params), PerMessageDeflate(
        is_server=False, **params
    )


def split(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    """Split ``data`` at the given offsets (in any order, repeats allowed)."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[start:stop] for start, stop in zip(bounds, bounds[1:])]


def send(
    sender: PerMessageDeflate,
    receiver: PerMessageDeflate,
    message: bytes,
    cuts: Sequence[int] = (),
) -> bytes:
    """Compress ``message`` in fragments, inflate them, return the result."""
    fragments = split(message, cuts)
    received = []
    for index, fragment in enumerate(fragments):
        fin = index == len(fragments) - 1
        payload = sender.compress(fragment, fin)
        received.append(receiver.decompress(payload, fin, None))
    return b"".join(received)


def random_bytes(size: int, seed: int = 0) -> bytes:
    return (
        random.Random(seed).getrandbits(8 * size).to_bytes(size, "little")
        if size
        else b""
    )


def compressible_bytes(size: int, seed: int = 0) -> bytes:
    """Text-like data: words drawn from a small vocabulary, repeated far apart."""
    rng = random.Random(seed)
    words = [random_bytes(rng.randint(2, 9), seed + n) for n in range(300)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def zlib_compress(data: bytes, wbits: int, level: int = 6, mem_level: int = 5) -> bytes:
    """One message compressed with zlib directly, as RFC 7692 7.2.1 says."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem_level)
    output = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert output.endswith(TAIL)
    return output[:-4]


def deflate_finished(data: bytes) -> bytes:
    """``data`` compressed with Z_FINISH: a stream ending with BFINAL set."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


# A small DEFLATE decoder (RFC 1951) that reports the longest back reference,
# to check what our compressor emits independently of zlib's inflate, which
# can resolve references reaching beyond its window from its output buffer.

# RFC 1951 section 3.2.5: base values and extra bits of length codes 257..285
# and of distance codes 0..29.
# fmt: off
_LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
_LENGTH_EXTRA = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
_DISTANCE_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                  257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                  8193, 12289, 16385, 24577]
_DISTANCE_EXTRA = [0, 0] + [n // 2 for n in range(28)]
# fmt: on
# Section 3.2.7: the order in which code length code lengths are sent.
_CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]


class BitReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bits(self, count: int) -> int:
        value = 0
        for shift in range(count):
            byte = self.data[self.pos >> 3]
            value |= ((byte >> (self.pos & 7)) & 1) << shift
            self.pos += 1
        return value

    def symbol(self, table: Dict[Tuple[int, int], int]) -> int:
        code = 0
        for length in range(1, 16):
            code = (code << 1) | self.bits(1)
            if (length, code) in table:
                return table[length, code]
        raise ValueError("invalid Huffman code")


def canonical_code(lengths: Sequence[int]) -> Dict[Tuple[int, int], int]:
    table = {}
    code = 0
    for length in range(1, 16):
        for symbol, symbol_length in enumerate(lengths):
            if symbol_length == length:
                table[length, code] = symbol
                code += 1
        code <<= 1
    return table


FIXED_LITERALS = canonical_code([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8)
FIXED_DISTANCES = canonical_code([5] * 30)


def inspect_deflate(data: bytes) -> Tuple[bytes, int]:
    """Inflate raw DEFLATE ``data``; return the output and the longest distance."""
    reader = BitReader(data)
    out = bytearray()
    longest = 0
    while reader.pos < 8 * len(data):
        final = reader.bits(1)
        block_type = reader.bits(2)
        if block_type == 0:
            reader.pos = (reader.pos + 7) & ~7
            length = reader.bits(16)
            assert reader.bits(16) == length ^ 0xFFFF
            start = reader.pos >> 3
            out += data[start : start + length]
            reader.pos += 8 * length
        else:
            if block_type == 1:
                literals, distances = FIXED_LITERALS, FIXED_DISTANCES
            else:
                assert block_type == 2
                n_literals = reader.bits(5) + 257
                n_distances = reader.bits(5) + 1
                n_code_lengths = reader.bits(4) + 4
                code_lengths = [0] * 19
                for index in _CODE_LENGTH_ORDER[:n_code_lengths]:
                    code_lengths[index] = reader.bits(3)
                code_length_code = canonical_code(code_lengths)
                lengths: List[int] = []
                while len(lengths) < n_literals + n_distances:
                    symbol = reader.symbol(code_length_code)
                    if symbol < 16:
                        lengths.append(symbol)
                    elif symbol == 16:
                        lengths += [lengths[-1]] * (3 + reader.bits(2))
                    elif symbol == 17:
                        lengths += [0] * (3 + reader.bits(3))
                    else:
                        lengths += [0] * (11 + reader.bits(7))
                literals = canonical_code(lengths[:n_literals])
                distances = canonical_code(lengths[n_literals:])
            while True:
                symbol = reader.symbol(literals)
                if symbol < 256:
                    out.append(symbol)
                    continue
                if symbol == 256:
                    break
                index = symbol - 257
                length = _LENGTH_BASE[index] + reader.bits(_LENGTH_EXTRA[index])
                code = reader.symbol(distances)
                distance = _DISTANCE_BASE[code] + reader.bits(_DISTANCE_EXTRA[code])
                assert distance <= len(out)
                longest = max(longest, distance)
                for _ in range(length):
                    out.append(out[-distance])
        if final:
            break
    return bytes(out), longest


def test_inspect_deflate_agrees_with_zlib() -> None:
    data = compressible_bytes(20 * KiB)
    output, longest = inspect_deflate(zlib_compress(data, 15) + TAIL)
    assert output == data
    assert longest > 1024
    fixed = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_FIXED)
    output, _ = inspect_deflate(fixed.compress(data) + fixed.flush())
    assert output == data


# -- The module stays sans-I/O ------------------------------------------------


def test_module_imports() -> None:
    tree = ast.parse(Path(deflate_module.__file__).read_text())
    imported: Set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported <= {"__future__", "zlib", "dataclasses", "typing", ".exceptions"}


def test_exports() -> None:
    for name in deflate_module.__all__:
        assert hasattr(deflate_module, name)


# -- RFC 7692 section 7.2.3 examples ------------------------------------------


def test_rfc_7_2_3_1_compress_hello() -> None:
    server, _ = make_pair()
    assert server.compress(b"Hello") == HELLO


def test_rfc_7_2_3_1_decompress_hello() -> None:
    _, client = make_pair()
    assert client.decompress(HELLO, True, None) == b"Hello"


def test_rfc_7_2_3_1_fragmented() -> None:
    # "f2 48 cd" in a first frame, "c9 c9 07 00" in a continuation frame.
    _, client = make_pair()
    assert client.decompress(HELLO[:3], False, None) == b"He"
    assert client.decompress(HELLO[3:], True, None) == b"llo"


def test_rfc_7_2_3_2_context_takeover() -> None:
    server, client = make_pair()
    assert server.compress(b"Hello") == HELLO
    assert server.compress(b"Hello") == bytes.fromhex("f2 00 11 00 00")
    assert client.decompress(HELLO, True, None) == b"Hello"
    assert client.decompress(bytes.fromhex("f2 00 11 00 00"), True, None) == b"Hello"


def test_rfc_7_2_3_2_no_context_takeover() -> None:
    server, client = make_pair(server_no_context_takeover=True)
    assert server.compress(b"Hello") == HELLO
    assert server.compress(b"Hello") == HELLO
    assert client.decompress(HELLO, True, None) == b"Hello"
    assert client.decompress(HELLO, True, None) == b"Hello"


def test_rfc_7_2_3_3_no_compression_block() -> None:
    _, client = make_pair()
    payload = bytes.fromhex("00 05 00 fa ff 48 65 6c 6c 6f 00")
    assert client.decompress(payload, True, None) == b"Hello"
    assert client.decompress(HELLO, True, None) == b"Hello"


def test_rfc_7_2_3_4_bfinal() -> None:
    _, client = make_pair()
    payload = bytes.fromhex("f3 48 cd c9 c9 07 00 00")
    assert client.decompress(payload, True, None) == b"Hello"
    # The stream ended; the next message starts a new one.
    assert client.decompress(HELLO, True, None) == b"Hello"
    assert client.decompress(bytes.fromhex("f2 00 11 00 00"), True, None) == b"Hello"


def test_rfc_7_2_3_4_bfinal_split_across_frames() -> None:
    _, client = make_pair()
    payload = bytes.fromhex("f3 48 cd c9 c9 07 00 00")
    for cut in range(len(payload) + 1):
        assert (
            client.decompress(payload[:cut], False, None)
            + client.decompress(payload[cut:], True, None)
            == b"Hello"
        )
        assert client.decompress(HELLO, True, None) == b"Hello"


def test_bfinal_without_trailing_empty_block() -> None:
    # Section 7.2.1 requires the empty block after a final block; a peer that
    # omits it still gets decoded, and the next message is not corrupted.
    _, client = make_pair()
    payload = deflate_finished(b"Hello")
    assert payload == bytes.fromhex("f3 48 cd c9 c9 07 00")
    assert client.decompress(payload, True, None) == b"Hello"
    assert client.decompress(HELLO, True, None) == b"Hello"
    # Same with the final block ending a non-final frame.
    assert client.decompress(payload, False, None) == b"Hello"
    assert client.decompress(b"", True, None) == b""
    assert client.decompress(HELLO, True, None) == b"Hello"


def test_data_after_bfinal_starts_new_stream() -> None:
    _, client = make_pair()
    payload = deflate_finished(b"Hello") + zlib_compress(b"World", 15)
    assert client.decompress(payload, True, None) == b"HelloWorld"


def test_rfc_7_2_3_5_two_blocks() -> None:
    _, client = make_pair()
    payload = bytes.fromhex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")
    assert client.decompress(payload, True, None) == b"Hello"


def test_rfc_7_2_3_6_empty_message() -> None:
    server, client = make_pair()
    assert server.compress(b"") == b"\x00"
    assert client.decompress(b"\x00", True, None) == b""
    # An empty message in the middle of a context-takeover stream.
    assert server.compress(b"Hello") == HELLO
    assert server.compress(b"") == b"\x00"
    assert server.compress(b"Hello") == bytes.fromhex("f2 00 11 00 00")
    assert client.decompress(HELLO, True, None) == b"Hello"
    assert client.decompress(b"\x00", True, None) == b""
    assert client.decompress(bytes.fromhex("f2 00 11 00 00"), True, None) == b"Hello"


def test_empty_fragments() -> None:
    server, client = make_pair()
    assert send(server, client, b"Hello", [0, 0, 5, 5]) == b"Hello"
    assert server.compress(b"", fin=False) == b""
    assert server.compress(b"", fin=True) == b"\x00"
    assert send(server, client, b"Hello") == b"Hello"


# -- Round trips --------------------------------------------------------------

#: The 4 MiB case takes seconds: it runs in the integration lane (and the
#: full run), the others in every lane.
SIZES = [
    0, 1, 125, 126, 65535, 65536,
    pytest.param(4 * MiB, marks=pytest.mark.integration, id=str(4 * MiB)),
]  # fmt: skip
TAKEOVER = list(itertools.product([False, True], repeat=2))


@pytest.mark.parametrize("server_nct, client_nct", TAKEOVER)
@pytest.mark.parametrize("kind", ["random", "compressible"])
@pytest.mark.parametrize("size", SIZES)
def test_round_trip(size: int, kind: str, server_nct: bool, client_nct: bool) -> None:
    make = random_bytes if kind == "random" else compressible_bytes
    first, second = make(size, 1), make(size, 2)
    server, client = make_pair(server_nct, client_nct)
    repeats = 1 if size > MiB else 2
    for message in [first, second] * repeats:
        assert send(server, client, message) == message
        assert send(client, server, message) == message


@pytest.mark.parametrize("server_nct, client_nct", TAKEOVER)
@pytest.mark.parametrize("bits", range(8, 16))
def test_round_trip_window_bits(bits: int, server_nct: bool, client_nct: bool) -> None:
    server, client = make_pair(server_nct, client_nct, bits, bits)
    messages = [compressible_bytes(65536, n) for n in range(3)] + [random_bytes(3000)]
    for message in messages + messages:
        assert send(server, client, message) == message
        assert send(client, server, message) == message


@pytest.mark.parametrize(
    "server_bits, client_bits", [(8, 15), (15, 8), (9, 12), (12, 9)]
)
def test_round_trip_different_windows(server_bits: int, client_bits: int) -> None:
    server, client = make_pair(
        server_max_window_bits=server_bits, client_max_window_bits=client_bits
    )
    message = compressible_bytes(100 * KiB)
    for _ in range(3):
        assert send(server, client, message) == message
        assert send(client, server, message) == message


@pytest.mark.parametrize("server_nct, client_nct", TAKEOVER)
def test_round_trip_fragmented(server_nct: bool, client_nct: bool) -> None:
    server, client = make_pair(server_nct, client_nct)
    message = compressible_bytes(200 * KiB) + random_bytes(50 * KiB)
    for cuts in (
        [],
        [1],
        [100, 200],
        list(range(0, len(message), 7000)),
        [0, len(message)],
    ):
        assert send(server, client, message, cuts) == message
        assert send(client, server, message, cuts) == message


@pytest.mark.parametrize("level", [-1, 0, 1, 9])
@pytest.mark.parametrize("mem_level", [1, 5, 9])
def test_round_trip_levels(level: int, mem_level: int) -> None:
    server, client = make_pair(compress_level=level, mem_level=mem_level)
    for message in [compressible_bytes(70 * KiB), random_bytes(70 * KiB), b"x"]:
        assert send(server, client, message) == message
        assert send(client, server, message) == message


def test_accepts_bytearray_and_memoryview() -> None:
    server, client = make_pair()
    data = compressible_bytes(10 * KiB)
    compressed = server.compress(bytearray(data))
    assert client.decompress(memoryview(compressed), True, None) == data
    compressed = server.compress(memoryview(data)[100:])
    assert client.decompress(bytearray(compressed), True, None) == data[100:]


def test_compression_shrinks_repetitive_data() -> None:
    server, _ = make_pair()
    data = compressible_bytes(64 * KiB)
    assert len(server.compress(data)) < len(data) // 2


def test_no_context_takeover_frees_streams() -> None:
    server, client = make_pair(server_no_context_takeover=True)
    send(server, client, b"Hello" * 100)
    assert server._compressor is None and client._decompressor is None
    send(client, server, b"Hello" * 100)
    assert client._compressor is not None and server._decompressor is not None


def test_streams_created_by_the_first_message_that_needs_them() -> None:
    server, client = make_pair()
    # Nothing compressed yet: no zlib stream on either side.
    for side in (server, client):
        assert side._compressor is None and side._decompressor is None
    # With context takeover a stream lives on once a message created it.
    send(server, client, b"Hello" * 100)
    assert server._compressor is not None and client._decompressor is not None
    assert server._decompressor is None and client._compressor is None
    compressor = server._compressor
    send(server, client, b"again" * 100)
    assert server._compressor is compressor


def test_no_instance_dict() -> None:
    server, _ = make_pair()
    assert not hasattr(server, "__dict__")
    with pytest.raises(AttributeError):
        server.extra = 1  # type: ignore[attr-defined]


def test_context_takeover_shrinks_repeated_messages() -> None:
    message = random_bytes(10 * KiB)
    server, client = make_pair()
    send(server, client, message)
    assert len(server.compress(message)) < 100
    server, client = make_pair(server_no_context_takeover=True)
    send(server, client, message)
    assert len(server.compress(message)) > len(message)


@settings(deadline=None)
@given(
    messages=st.lists(
        st.one_of(st.binary(max_size=3000), st.text(max_size=1000).map(str.encode)),
        min_size=1,
        max_size=6,
    ),
    server_nct=st.booleans(),
    client_nct=st.booleans(),
    server_bits=st.integers(8, 15),
    client_bits=st.integers(8, 15),
    data=st.data(),
)
def test_round_trip_property(
    messages: List[bytes],
    server_nct: bool,
    client_nct: bool,
    server_bits: int,
    client_bits: int,
    data: st.DataObject,
) -> None:
    server, client = make_pair(server_nct, client_nct, server_bits, client_bits)
    for message in messages:
        cut = st.lists(st.integers(0, len(message)), max_size=5)
        assert send(server, client, message, data.draw(cut)) == message
        assert send(client, server, message, data.draw(cut)) == message


@settings(deadline=None)
@given(
    messages=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    data=st.data(),
)
def test_decompress_any_frame_split(messages: List[bytes], data: st.DataObject) -> None:
    # However a compressed message is cut into frames, it inflates the same.
    server, client = make_pair()
    for message in messages:
        payload = server.compress(message)
        frames = split(
            payload, data.draw(st.lists(st.integers(0, len(payload)), max_size=5))
        )
        received = b"".join(
            client.decompress(frame, index == len(frames) - 1, None)
            for index, frame in enumerate(frames)
        )
        assert received == message


# -- 256-byte windows ---------------------------------------------------------


def test_zlib_refuses_raw_window_bits_8() -> None:
    # The reason for the Z_RLE strategy (see the module docstring).
    with pytest.raises(ValueError):
        zlib.compressobj(6, zlib.DEFLATED, -8)


@pytest.mark.parametrize("is_server", [True, False])
def test_window_bits_8_stays_within_256_bytes(is_server: bool) -> None:
    sender = PerMessageDeflate(
        is_server=is_server, server_max_window_bits=8, client_max_window_bits=8
    )
    messages = [compressible_bytes(8 * KiB, n) + bytes(3000) for n in range(3)]
    stream = b"".join(sender.compress(message) + TAIL for message in messages)
    output, longest = inspect_deflate(stream)
    assert output == b"".join(messages)
    assert 1 <= longest <= 256
    # zlib inflates it with a 256-byte window, fed in small pieces so that
    # only the window can resolve back references.
    inflater = zlib.decompressobj(-8)
    inflated = b"".join(
        inflater.decompress(stream[n : n + 16]) for n in range(0, len(stream), 16)
    )
    assert inflated == b"".join(messages)


def test_window_bits_9_and_up_use_full_matching() -> None:
    # Only the 8-bit case is degraded: longer distances appear from 10 bits.
    data = compressible_bytes(16 * KiB)
    sender = PerMessageDeflate(is_server=True, server_max_window_bits=10)
    _, longest = inspect_deflate(sender.compress(data) + TAIL)
    assert 256 < longest <= 1024


# -- Cross-checks against zlib and websockets ---------------------------------


@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("bits", range(9, 16))
def test_same_bytes_as_zlib(bits: int, level: int) -> None:
    server = PerMessageDeflate(
        is_server=True, server_max_window_bits=bits, compress_level=level
    )
    compressor = zlib.compressobj(level, zlib.DEFLATED, -bits, 5)
    for message in [compressible_bytes(50 * KiB, 1), compressible_bytes(50 * KiB, 2)]:
        expected = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert server.compress(message) == expected[:-4]


@pytest.mark.parametrize("bits", range(8, 16))
def test_zlib_inflates_our_output(bits: int) -> None:
    server = PerMessageDeflate(is_server=True, server_max_window_bits=bits)
    inflater = zlib.decompressobj(-bits)
    for message in [
        compressible_bytes(50 * KiB, 1),
        random_bytes(5000),
        b"",
        compressible_bytes(50 * KiB, 2),
    ]:
        assert inflater.decompress(server.compress(message) + TAIL) == message


@pytest.mark.parametrize("bits", range(9, 16))
def test_we_inflate_zlib_output(bits: int) -> None:
    client = PerMessageDeflate(is_server=False, server_max_window_bits=bits)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -bits, 9)
    for message in [
        compressible_bytes(50 * KiB, 1),
        random_bytes(5000),
        compressible_bytes(50 * KiB, 2),
    ]:
        payload = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert client.decompress(payload[:-4], True, None) == message


def theirs(
    is_server: bool,
    server_nct: bool,
    client_nct: bool,
    server_bits: int,
    client_bits: int,
) -> TheirDeflate:
    """The websockets implementation of the same agreement, for one side."""
    if is_server:
        return TheirDeflate(client_nct, server_nct, client_bits, server_bits)
    return TheirDeflate(server_nct, client_nct, server_bits, client_bits)


WEBSOCKETS_CASES = [
    (server_nct, client_nct, bits)
    for server_nct, client_nct in TAKEOVER
    for bits in (9, 12, 15)
]


@pytest.mark.parametrize("server_nct, client_nct, bits", WEBSOCKETS_CASES)
@pytest.mark.parametrize("is_server", [True, False])
def test_websockets_decodes_ours(
    is_server: bool, server_nct: bool, client_nct: bool, bits: int
) -> None:
    ours = PerMessageDeflate(
        is_server=is_server,
        server_no_context_takeover=server_nct,
        client_no_context_takeover=client_nct,
        server_max_window_bits=bits,
        client_max_window_bits=bits,
    )
    peer = theirs(not is_server, server_nct, client_nct, bits, bits)
    messages = [compressible_bytes(40 * KiB, n) for n in range(3)] + [b"", b"x"]
    for message in messages * 2:
        frame = Frame(Opcode.BINARY, ours.compress(message), rsv1=True)
        assert peer.decode(frame).data == message
    # A fragmented message.
    message = compressible_bytes(100 * KiB, 7)
    parts = split(message, [30 * KiB, 60 * KiB])
    frames = [
        Frame(Opcode.BINARY, ours.compress(parts[0], False), fin=False, rsv1=True),
        Frame(Opcode.CONT, ours.compress(parts[1], False), fin=False),
        Frame(Opcode.CONT, ours.compress(parts[2], True), fin=True),
    ]
    assert b"".join(peer.decode(frame).data for frame in frames) == message


@pytest.mark.parametrize("server_nct, client_nct, bits", WEBSOCKETS_CASES)
@pytest.mark.parametrize("is_server", [True, False])
def test_we_decode_websockets(
    is_server: bool, server_nct: bool, client_nct: bool, bits: int
) -> None:
    ours = PerMessageDeflate(
        is_server=is_server,
        server_no_context_takeover=server_nct,
        client_no_context_takeover=client_nct,
        server_max_window_bits=bits,
        client_max_window_bits=bits,
    )
    peer = theirs(not is_server, server_nct, client_nct, bits, bits)
    messages = [compressible_bytes(40 * KiB, n) for n in range(3)] + [b"", b"x"]
    for message in messages * 2:
        frame = peer.encode(Frame(Opcode.BINARY, message))
        assert frame.rsv1
        assert ours.decompress(frame.data, True, None) == message
    message = compressible_bytes(100 * KiB, 7)
    parts = split(message, [30 * KiB, 60 * KiB])
    frames = [
        peer.encode(Frame(Opcode.BINARY, parts[0], fin=False)),
        peer.encode(Frame(Opcode.CONT, parts[1], fin=False)),
        peer.encode(Frame(Opcode.CONT, parts[2], fin=True)),
    ]
    received = b"".join(
        ours.decompress(frame.data, frame.fin, None) for frame in frames
    )
    assert received == message


def test_websockets_inflates_our_window_bits_8() -> None:
    ours = PerMessageDeflate(is_server=True, server_max_window_bits=8)
    peer = theirs(False, False, False, 8, 15)
    for message in [compressible_bytes(20 * KiB, n) for n in range(3)]:
        frame = Frame(Opcode.BINARY, ours.compress(message), rsv1=True)
        assert peer.decode(frame).data == message


@pytest.mark.parametrize(
    "options",
    [
        DeflateOptions(),
        DeflateOptions(
            server_no_context_takeover=True, client_no_context_takeover=True
        ),
        DeflateOptions(server_max_window_bits=10, client_max_window_bits=12),
    ],
)
def test_negotiation_with_websockets_server(options: DeflateOptions) -> None:
    server_factory = ServerPerMessageDeflateFactory(client_max_window_bits=11)
    response, peer = server_factory.process_request_params(client_offer(options), [])
    ours = client_accept(list(response), options)
    message = compressible_bytes(50 * KiB)
    for _ in range(2):
        frame = Frame(Opcode.BINARY, ours.compress(message), rsv1=True)
        assert peer.decode(frame).data == message
        assert (
            ours.decompress(peer.encode(Frame(Opcode.BINARY, message)).data, True, None)
            == message
        )


@pytest.mark.parametrize(
    "factory",
    [
        ClientPerMessageDeflateFactory(),
        ClientPerMessageDeflateFactory(
            server_no_context_takeover=True, client_no_context_takeover=True
        ),
        ClientPerMessageDeflateFactory(
            server_max_window_bits=10, client_max_window_bits=12
        ),
        ClientPerMessageDeflateFactory(client_max_window_bits=None),
    ],
)
def test_negotiation_with_websockets_client(
    factory: ClientPerMessageDeflateFactory,
) -> None:
    options = DeflateOptions(server_max_window_bits=12, client_max_window_bits=11)
    negotiated = server_negotiate([list(factory.get_request_params())], options)
    assert negotiated is not None
    response, ours = negotiated
    peer = factory.process_response_params(response, [])
    message = compressible_bytes(50 * KiB)
    for _ in range(2):
        frame = Frame(Opcode.BINARY, ours.compress(message), rsv1=True)
        assert peer.decode(frame).data == message
        assert (
            ours.decompress(peer.encode(Frame(Opcode.BINARY, message)).data, True, None)
            == message
        )


# -- Size limits and invalid data ---------------------------------------------


BOMB_SEGMENT_SIZE = 16 * MiB


@pytest.fixture(scope="module")
def bomb_segment() -> bytes:
    """16 MiB of zeros, compressed, ending with a full flush.

    After a full flush the compressor refers to nothing before, so the
    segment refers to nothing outside itself and copies of it can follow each
    other in one DEFLATE stream.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MiB)
    parts = [compressor.compress(zeros) for _ in range(BOMB_SEGMENT_SIZE // MiB)]
    parts.append(compressor.flush(zlib.Z_FULL_FLUSH))
    segment = b"".join(parts)
    assert segment.endswith(TAIL)
    return segment


@pytest.fixture(scope="module")
def bomb(bomb_segment: bytes) -> bytes:
    """A payload of about 1 MiB that inflates to 1 GiB of zeros, built
    without ever holding 1 GiB."""
    return (bomb_segment * (GiB // BOMB_SEGMENT_SIZE))[:-4]


def test_bomb_is_real(bomb_segment: bytes, bomb: bytes) -> None:
    assert len(bomb) < 2 * MiB
    # One segment is 16 MiB of zeros, and so is each copy after it.
    inflater = zlib.decompressobj(-15)
    for _ in range(3):
        assert inflater.decompress(bomb_segment) == bytes(BOMB_SEGMENT_SIZE)
    assert bomb.startswith(bomb_segment * 3)


def test_bomb_refused_fast_with_little_memory(bomb: bytes) -> None:
    _, client = make_pair()
    client.decompress(b"", False, None)  # create the zlib stream beforehand
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(PayloadTooBig) as raised:
            client.decompress(bomb, True, MiB)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.code == 1009
    assert elapsed < 2.0
    # The limit, one byte, zlib's window and state, a slice of input.
    assert peak < MiB + 128 * KiB, peak


def test_bomb_refused_across_frames(bomb: bytes) -> None:
    _, client = make_pair()
    remaining = 10 * MiB
    frames = split(bomb, range(0, len(bomb), 4096))
    with pytest.raises(PayloadTooBig):
        for index, frame in enumerate(frames):
            remaining -= len(
                client.decompress(frame, index == len(frames) - 1, remaining)
            )
    assert remaining >= 0


@pytest.mark.parametrize("size", [0, 1, 1000, 65536])
def test_max_size_boundary(size: int) -> None:
    message = compressible_bytes(size)
    server, client = make_pair(server_no_context_takeover=True)
    payload = server.compress(message)
    assert client.decompress(payload, True, size) == message
    assert client.decompress(payload, True, size + 1) == message
    if size:
        with pytest.raises(PayloadTooBig):
            client.decompress(payload, True, size - 1)


def test_max_size_boundary_fragmented() -> None:
    message = compressible_bytes(3000)
    server, client = make_pair()
    first, second = (
        server.compress(message[:1000], False),
        server.compress(message[1000:], True),
    )
    part = client.decompress(first, False, 3000)
    assert part == message[:1000]
    assert client.decompress(second, True, 3000 - len(part)) == message[1000:]
    first, second = (
        server.compress(message[:1000], False),
        server.compress(message[1000:], True),
    )
    part = client.decompress(first, False, 2999)
    with pytest.raises(PayloadTooBig):
        client.decompress(second, True, 2999 - len(part))


def test_negative_max_size_counts_as_zero() -> None:
    server, client = make_pair(server_no_context_takeover=True)
    assert client.decompress(server.compress(b""), True, -5) == b""
    with pytest.raises(PayloadTooBig):
        client.decompress(server.compress(b"x"), True, -5)


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff",  # BTYPE 11 is reserved
        b"\x07\x00",  # BFINAL with BTYPE 11
        bytes.fromhex("00 05 00 05 00 48 65 6c 6c 6f"),  # NLEN isn't ~LEN
    ],
)
def test_invalid_data_is_1007(payload: bytes) -> None:
    _, client = make_pair()
    with pytest.raises(ProtocolError) as raised:
        client.decompress(payload, True, None)
    assert raised.value.code == 1007
    assert not isinstance(raised.value, PayloadTooBig)


@pytest.mark.parametrize("bits", [9, 12])
def test_reference_beyond_agreed_window_is_1007(bits: int) -> None:
    # The peer agreed to a small window but refers 5000 bytes back: a first
    # message stored without compression, then the same bytes again,
    # compressed against them (zdict stands for the peer's history).
    message = random_bytes(5000)
    first = zlib_compress(message, 15, level=0)
    compressor = zlib.compressobj(
        9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, message
    )
    second = (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    honest = PerMessageDeflate(is_server=False)
    assert honest.decompress(first, True, None) == message
    assert honest.decompress(second, True, None) == message
    client = PerMessageDeflate(is_server=False, server_max_window_bits=bits)
    assert client.decompress(first, True, None) == message
    with pytest.raises(ProtocolError) as raised:
        client.decompress(second, True, None)
    assert raised.value.code == 1007


# -- Negotiation: the server side ---------------------------------------------

SNCT = ("server_no_context_takeover", None)
CNCT = ("client_no_context_takeover", None)


def smwb(value: Optional[str]) -> Tuple[str, Optional[str]]:
    return ("server_max_window_bits", value)


def cmwb(value: Optional[str]) -> Tuple[str, Optional[str]]:
    return ("client_max_window_bits", value)


Agreed = Tuple[bool, bool, int, int]

SERVER_CASES: List[Tuple[str, Params, DeflateOptions, Params, Agreed]] = [
    ("empty offer", [], DeflateOptions(), [], (False, False, 15, 15)),
    (
        "bare client_max_window_bits",
        [cmwb(None)],
        DeflateOptions(),
        [],
        (False, False, 15, 15),
    ),
    (
        "server_no_context_takeover",
        [SNCT],
        DeflateOptions(),
        [SNCT],
        (True, False, 15, 15),
    ),
    (
        "client_no_context_takeover",
        [CNCT],
        DeflateOptions(),
        [CNCT],
        (False, True, 15, 15),
    ),
    (
        "server_max_window_bits",
        [smwb("10")],
        DeflateOptions(),
        [smwb("10")],
        (False, False, 10, 15),
    ),
    (
        "server_max_window_bits 8",
        [smwb("8")],
        DeflateOptions(),
        [smwb("8")],
        (False, False, 8, 15),
    ),
    (
        "server_max_window_bits 15",
        [smwb("15")],
        DeflateOptions(),
        [smwb("15")],
        (False, False, 15, 15),
    ),
    (
        "client_max_window_bits",
        [cmwb("9")],
        DeflateOptions(),
        [cmwb("9")],
        (False, False, 15, 9),
    ),
    (
        "client_max_window_bits 8",
        [cmwb("8")],
        DeflateOptions(),
        [cmwb("8")],
        (False, False, 15, 8),
    ),
    (
        "all parameters",
        [SNCT, CNCT, smwb("12"), cmwb("11")],
        DeflateOptions(),
        [SNCT, CNCT, smwb("12"), cmwb("11")],
        (True, True, 12, 11),
    ),
    (
        "all parameters, other order",
        [cmwb("11"), smwb("12"), CNCT, SNCT],
        DeflateOptions(),
        [SNCT, CNCT, smwb("12"), cmwb("11")],
        (True, True, 12, 11),
    ),
    (
        "names are case-insensitive",
        [("Server_No_Context_Takeover", None), ("CLIENT_MAX_WINDOW_BITS", "10")],
        DeflateOptions(),
        [SNCT, cmwb("10")],
        (True, False, 15, 10),
    ),
    (
        "we require server_no_context_takeover",
        [],
        DeflateOptions(server_no_context_takeover=True),
        [SNCT],
        (True, False, 15, 15),
    ),
    (
        "we require client_no_context_takeover",
        [],
        DeflateOptions(client_no_context_takeover=True),
        [CNCT],
        (False, True, 15, 15),
    ),
    (
        "we want a smaller server window",
        [],
        DeflateOptions(server_max_window_bits=11),
        [smwb("11")],
        (False, False, 11, 15),
    ),
    (
        "our server window of 15 is the default",
        [],
        DeflateOptions(server_max_window_bits=15),
        [],
        (False, False, 15, 15),
    ),
    (
        "client asks less than we want",
        [smwb("10")],
        DeflateOptions(server_max_window_bits=12),
        [smwb("10")],
        (False, False, 10, 15),
    ),
    (
        "client asks more than we want",
        [smwb("14")],
        DeflateOptions(server_max_window_bits=12),
        [smwb("12")],
        (False, False, 12, 15),
    ),
    (
        "client window: bare offer, we want 11",
        [cmwb(None)],
        DeflateOptions(client_max_window_bits=11),
        [cmwb("11")],
        (False, False, 15, 11),
    ),
    (
        "client window: bare offer, we want 15",
        [cmwb(None)],
        DeflateOptions(client_max_window_bits=15),
        [],
        (False, False, 15, 15),
    ),
    (
        "client window: offered 9, we want 11",
        [cmwb("9")],
        DeflateOptions(client_max_window_bits=11),
        [cmwb("9")],
        (False, False, 15, 9),
    ),
    (
        "client window: offered 13, we want 11",
        [cmwb("13")],
        DeflateOptions(client_max_window_bits=11),
        [cmwb("11")],
        (False, False, 15, 11),
    ),
    (
        "client window: not offered, we want 11",
        [],
        DeflateOptions(client_max_window_bits=11),
        [],
        (False, False, 15, 15),
    ),
]


@pytest.mark.parametrize(
    "offer, options, response, agreed",
    [case[1:] for case in SERVER_CASES],
    ids=[case[0] for case in SERVER_CASES],
)
def test_server_negotiate(
    offer: Params, options: DeflateOptions, response: Params, agreed: Agreed
) -> None:
    negotiated = server_negotiate([offer], options)
    assert negotiated is not None
    got_response, extension = negotiated
    assert got_response == response
    assert extension.is_server
    assert (
        extension.server_no_context_takeover,
        extension.client_no_context_takeover,
        extension.server_max_window_bits,
        extension.client_max_window_bits,
    ) == agreed
    assert extension.compress_level == options.compress_level
    assert extension.mem_level == options.mem_level
    assert extension.min_size == options.min_size
    message = compressible_bytes(20 * KiB)
    peer = PerMessageDeflate(
        is_server=False,
        server_no_context_takeover=agreed[0],
        client_no_context_takeover=agreed[1],
        server_max_window_bits=agreed[2],
        client_max_window_bits=agreed[3],
    )
    for _ in range(2):
        assert send(extension, peer, message) == message
        assert send(peer, extension, message) == message


INVALID_OFFERS: List[Tuple[str, Params]] = [
    ("unknown parameter", [("foo", None)]),
    ("unknown parameter with value", [("x-webkit-deflate", "1")]),
    ("unknown parameter after valid ones", [SNCT, ("mystery", "2")]),
    ("duplicate server_no_context_takeover", [SNCT, SNCT]),
    ("duplicate client_no_context_takeover", [CNCT, CNCT]),
    ("duplicate server_max_window_bits", [smwb("10"), smwb("10")]),
    ("duplicate client_max_window_bits", [cmwb(None), cmwb("10")]),
    ("duplicate with different case", [SNCT, ("SERVER_NO_CONTEXT_TAKEOVER", None)]),
    ("server_no_context_takeover with value", [("server_no_context_takeover", "1")]),
    (
        "server_no_context_takeover with empty value",
        [("server_no_context_takeover", "")],
    ),
    ("client_no_context_takeover with value", [("client_no_context_takeover", "true")]),
    ("server_max_window_bits without value", [smwb(None)]),
    ("server_max_window_bits=7", [smwb("7")]),
    ("server_max_window_bits=16", [smwb("16")]),
    ("server_max_window_bits=08", [smwb("08")]),
    ("server_max_window_bits=010", [smwb("010")]),
    ("server_max_window_bits=+9", [smwb("+9")]),
    ("server_max_window_bits=-9", [smwb("-9")]),
    ("server_max_window_bits=9.0", [smwb("9.0")]),
    ("server_max_window_bits= 9", [smwb(" 9")]),
    ("server_max_window_bits=0x9", [smwb("0x9")]),
    ("server_max_window_bits empty", [smwb("")]),
    ("server_max_window_bits non-ASCII digits", [smwb("\u0661\u0665")]),
    ("client_max_window_bits=16", [cmwb("16")]),
    ("client_max_window_bits=08", [cmwb("08")]),
    ("client_max_window_bits=7", [cmwb("7")]),
    ("client_max_window_bits=0", [cmwb("0")]),
    ("client_max_window_bits empty", [cmwb("")]),
    ("client_max_window_bits=abc", [cmwb("abc")]),
]


@pytest.mark.parametrize(
    "offer",
    [case[1] for case in INVALID_OFFERS],
    ids=[case[0] for case in INVALID_OFFERS],
)
def test_server_declines_invalid_offer(offer: Params) -> None:
    assert server_negotiate([offer], DeflateOptions()) is None
    # The next valid offer is accepted instead.
    negotiated = server_negotiate([offer, [cmwb(None)]], DeflateOptions())
    assert negotiated is not None
    assert negotiated[0] == []


def test_server_picks_first_valid_offer() -> None:
    offers: List[Params] = [[smwb("16")], [SNCT, smwb("10")], [CNCT]]
    negotiated = server_negotiate(offers, DeflateOptions())
    assert negotiated is not None
    response, extension = negotiated
    assert response == [SNCT, smwb("10")]
    assert extension.server_no_context_takeover
    assert extension.server_max_window_bits == 10


def test_server_nothing_acceptable() -> None:
    assert server_negotiate([], DeflateOptions()) is None
    assert (
        server_negotiate(
            [[("foo", None)], [smwb("08")], [SNCT, SNCT]], DeflateOptions()
        )
        is None
    )


# -- Negotiation: the client side ---------------------------------------------


@pytest.mark.parametrize(
    "options, offer",
    [
        (DeflateOptions(), [cmwb(None)]),
        (DeflateOptions(server_no_context_takeover=True), [SNCT, cmwb(None)]),
        (DeflateOptions(client_no_context_takeover=True), [CNCT, cmwb(None)]),
        (DeflateOptions(server_max_window_bits=10), [smwb("10"), cmwb(None)]),
        (DeflateOptions(client_max_window_bits=8), [cmwb("8")]),
        (
            DeflateOptions(True, True, 9, 12),
            [SNCT, CNCT, smwb("9"), cmwb("12")],
        ),
    ],
)
def test_client_offer(options: DeflateOptions, offer: Params) -> None:
    assert client_offer(options) == offer
    # Every offer we make is valid for a server.
    assert server_negotiate([offer], DeflateOptions()) is not None


CLIENT_CASES: List[Tuple[str, DeflateOptions, Params, Agreed]] = [
    ("empty response", DeflateOptions(), [], (False, False, 15, 15)),
    (
        "server_no_context_takeover unrequested",
        DeflateOptions(),
        [SNCT],
        (True, False, 15, 15),
    ),
    (
        "client_no_context_takeover unrequested",
        DeflateOptions(),
        [CNCT],
        (False, True, 15, 15),
    ),
    (
        "server_max_window_bits unrequested",
        DeflateOptions(),
        [smwb("10")],
        (False, False, 10, 15),
    ),
    ("server_max_window_bits 8", DeflateOptions(), [smwb("8")], (False, False, 8, 15)),
    ("client_max_window_bits", DeflateOptions(), [cmwb("10")], (False, False, 15, 10)),
    ("client_max_window_bits 8", DeflateOptions(), [cmwb("8")], (False, False, 15, 8)),
    (
        "server_no_context_takeover granted",
        DeflateOptions(server_no_context_takeover=True),
        [SNCT],
        (True, False, 15, 15),
    ),
    (
        "server window granted",
        DeflateOptions(server_max_window_bits=12),
        [smwb("12")],
        (False, False, 12, 15),
    ),
    (
        "server window smaller",
        DeflateOptions(server_max_window_bits=12),
        [smwb("9")],
        (False, False, 9, 15),
    ),
    (
        "our client window kept",
        DeflateOptions(client_max_window_bits=12),
        [],
        (False, False, 15, 12),
    ),
    (
        "our client window lowered",
        DeflateOptions(client_max_window_bits=12),
        [cmwb("10")],
        (False, False, 15, 10),
    ),
    (
        "larger client window ignored",
        DeflateOptions(client_max_window_bits=12),
        [cmwb("14")],
        (False, False, 15, 12),
    ),
    (
        "our client_no_context_takeover promise",
        DeflateOptions(client_no_context_takeover=True),
        [],
        (False, True, 15, 15),
    ),
    (
        "everything",
        DeflateOptions(True, True, 10, 10),
        [cmwb("9"), smwb("9"), CNCT, SNCT],
        (True, True, 9, 9),
    ),
    (
        "names are case-insensitive",
        DeflateOptions(),
        [("Server_Max_Window_Bits", "11")],
        (False, False, 11, 15),
    ),
]


@pytest.mark.parametrize(
    "options, response, agreed",
    [case[1:] for case in CLIENT_CASES],
    ids=[case[0] for case in CLIENT_CASES],
)
def test_client_accept(
    options: DeflateOptions, response: Params, agreed: Agreed
) -> None:
    extension = client_accept(response, options)
    assert not extension.is_server
    assert (
        extension.server_no_context_takeover,
        extension.client_no_context_takeover,
        extension.server_max_window_bits,
        extension.client_max_window_bits,
    ) == agreed
    assert (extension.compress_level, extension.mem_level, extension.min_size) == (
        options.compress_level,
        options.mem_level,
        options.min_size,
    )


INVALID_RESPONSES: List[Tuple[str, DeflateOptions, Params, str]] = [
    ("unknown parameter", DeflateOptions(), [("foo", None)], "unknown parameter 'foo'"),
    (
        "duplicate parameter",
        DeflateOptions(),
        [SNCT, SNCT],
        "duplicate parameter server_no_context_takeover",
    ),
    (
        "duplicate window",
        DeflateOptions(),
        [smwb("10"), smwb("11")],
        "duplicate parameter server_max_window_bits",
    ),
    (
        "value on server_no_context_takeover",
        DeflateOptions(),
        [("server_no_context_takeover", "x")],
        "takes no value",
    ),
    (
        "value on client_no_context_takeover",
        DeflateOptions(),
        [("client_no_context_takeover", "")],
        "takes no value",
    ),
    (
        "server_max_window_bits without value",
        DeflateOptions(),
        [smwb(None)],
        "server_max_window_bits needs a value",
    ),
    (
        "server_max_window_bits=16",
        DeflateOptions(),
        [smwb("16")],
        "server_max_window_bits='16' is invalid",
    ),
    (
        "server_max_window_bits=08",
        DeflateOptions(),
        [smwb("08")],
        "server_max_window_bits='08' is invalid",
    ),
    (
        "client_max_window_bits without value",
        DeflateOptions(),
        [cmwb(None)],
        "client_max_window_bits needs a value",
    ),
    (
        "client_max_window_bits=7",
        DeflateOptions(),
        [cmwb("7")],
        "client_max_window_bits='7' is invalid",
    ),
    (
        "server_no_context_takeover not granted",
        DeflateOptions(server_no_context_takeover=True),
        [],
        "server_no_context_takeover was requested but not granted",
    ),
    (
        "server_max_window_bits not granted",
        DeflateOptions(server_max_window_bits=10),
        [],
        "server_max_window_bits=10 was requested but not granted",
    ),
    (
        "server_max_window_bits larger than requested",
        DeflateOptions(server_max_window_bits=10),
        [smwb("11")],
        "server_max_window_bits=11 is larger than the 10 requested",
    ),
]


@pytest.mark.parametrize(
    "options, response, reason",
    [case[1:] for case in INVALID_RESPONSES],
    ids=[case[0] for case in INVALID_RESPONSES],
)
def test_client_rejects_invalid_response(
    options: DeflateOptions, response: Params, reason: str
) -> None:
    with pytest.raises(NegotiationError) as raised:
        client_accept(response, options)
    assert reason in raised.value.reason
    assert raised.value.reason.startswith("invalid permessage-deflate response: ")


def test_client_max_window_bits_not_offered() -> None:
    # client_offer() always offers client_max_window_bits; another offer
    # without it must not get it back (RFC 7692 section 7.1.2.2).
    with pytest.raises(NegotiationError) as raised:
        deflate_module._accept_response([cmwb("10")], [], DeflateOptions())
    assert "client_max_window_bits was not offered" in raised.value.reason
    extension = deflate_module._accept_response([], [], DeflateOptions())
    assert extension.client_max_window_bits == 15


def test_full_negotiation_round_trip() -> None:
    for client_options, server_options in itertools.product(
        [
            DeflateOptions(),
            DeflateOptions(True, True, 9, 10),
            DeflateOptions(server_max_window_bits=8),
        ],
        [
            DeflateOptions(),
            DeflateOptions(True, False, 11, 8),
            DeflateOptions(client_max_window_bits=12),
        ],
    ):
        negotiated = server_negotiate([client_offer(client_options)], server_options)
        assert negotiated is not None
        response, server = negotiated
        client = client_accept(response, client_options)
        for name in (
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        ):
            assert getattr(client, name) == getattr(server, name), name
        message = compressible_bytes(30 * KiB)
        for _ in range(2):
            assert send(server, client, message) == message
            assert send(client, server, message) == message


# -- Options ------------------------------------------------------------------


def test_default_options() -> None:
    options = DeflateOptions()
    assert options == DeflateOptions(False, False, None, None, 6, 5, 32)
    extension = PerMessageDeflate(is_server=True)
    assert (extension.mem_level, extension.min_size, extension.compress_level) == (
        5,
        32,
        6,
    )
    assert PerMessageDeflate.name == "permessage-deflate"
    assert "server_max_window_bits=15" in repr(extension)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"server_no_context_takeover": 1},
            "server_no_context_takeover must be True or False",
        ),
        (
            {"client_no_context_takeover": None},
            "client_no_context_takeover must be True or False",
        ),
        (
            {"server_max_window_bits": 7},
            "server_max_window_bits must be from 8 to 15, got 7",
        ),
        (
            {"server_max_window_bits": 16},
            "server_max_window_bits must be from 8 to 15, got 16",
        ),
        ({"server_max_window_bits": "15"}, "server_max_window_bits must be an int"),
        ({"server_max_window_bits": True}, "server_max_window_bits must be an int"),
        ({"client_max_window_bits": 0}, "client_max_window_bits must be from 8 to 15"),
        ({"client_max_window_bits": 15.0}, "client_max_window_bits must be an int"),
        ({"compress_level": 10}, "compress_level must be from -1 to 9"),
        ({"compress_level": -2}, "compress_level must be from -1 to 9"),
        ({"mem_level": 0}, "mem_level must be from 1 to 9"),
        ({"mem_level": 10}, "mem_level must be from 1 to 9"),
        ({"min_size": -1}, "min_size must be an int >= 0"),
        ({"min_size": False}, "min_size must be an int >= 0"),
        ({"min_size": 1.5}, "min_size must be an int >= 0"),
    ],
)
def test_options_validation(kwargs: Dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeflateOptions(**kwargs)
    with pytest.raises(ValueError, match=message):
        PerMessageDeflate(is_server=True, **kwargs)


def test_options_error_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="use 15 for the best compression"):
        DeflateOptions(server_max_window_bits=16)
    with pytest.raises(ValueError, match="use 0 to compress every message"):
        DeflateOptions(min_size=-1)


@pytest.mark.parametrize("name", ["server_max_window_bits", "client_max_window_bits"])
def test_extension_needs_window_bits(name: str) -> None:
    with pytest.raises(ValueError, match="use 15 when nothing was negotiated"):
        PerMessageDeflate(is_server=False, **{name: None})  # type: ignore[arg-type]


def test_options_are_frozen() -> None:
    options = DeflateOptions()
    with pytest.raises(AttributeError):
        options.min_size = 0  # type: ignore[misc]


# -- Memory of a refused bomb, through the protocol ---------------------------

#: Run in a fresh interpreter, so that its peak RSS (VmHWM) means something:
#: one Protocol with a 4 MiB limit receives a bomb in 64 KiB reads (as from
#: a socket), as one frame or as 64 fragments; it prints the close code, the
#: tracemalloc peak growth (the assertion) and the VmHWM growth (a figure).
BOMB_CHILD = """
import json, sys, tracemalloc, zlib
from wsocket.deflate import PerMessageDeflate
from wsocket.protocol import Protocol, SERVER
from helpers import encode_frame

LIMIT, READ, SHAPE, TRACE = 4 * 2**20, 2**16, sys.argv[1], sys.argv[2] == "trace"
compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
block = bytes(2**20)
bomb = b"".join(compressor.compress(block) for _ in range(256))
bomb = (bomb + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]  # 256 MiB of zeros
if SHAPE == "frame":
    wire = encode_frame(0x2, bomb, rsv=4)
else:
    step = -(-len(bomb) // 64)
    pieces = [bomb[i : i + step] for i in range(0, len(bomb), step)]
    wire = b"".join(
        encode_frame(0x0 if i else 0x2, piece, fin=i == len(pieces) - 1,
                     rsv=0 if i else 4)
        for i, piece in enumerate(pieces)
    )
del block, bomb, compressor
deflate = PerMessageDeflate(is_server=True)
protocol = Protocol(SERVER, max_message_size=LIMIT, deflate=deflate)
# A first compressed message creates the zlib stream, as on a live
# connection; then the peak counters are reset.
protocol.receive_data(encode_frame(0x1, bytes.fromhex("f248cdc9c90700"), rsv=4))
assert [type(e).__name__ for e in protocol.events_received()] == ["TextMessage"]

def hwm():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0

view = memoryview(wire)
if TRACE:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
else:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    base = hwm()
received = 0
for pos in range(0, len(wire), READ):
    if protocol.failure is not None:
        break
    data = bytes(view[pos : pos + READ])
    received += len(data)
    protocol.receive_data(data)
    del data
peak = tracemalloc.get_traced_memory()[1] - base if TRACE else hwm() - base
print(json.dumps({
    "code": protocol.failure.code if protocol.failure else None,
    "received": received, "wire": len(wire), "peak": peak,
}))
"""


def run_bomb_child(shape: str, mode: str) -> Dict[str, Any]:
    import json
    import subprocess
    import sys

    from helpers import subprocess_env

    done = subprocess.run(
        [sys.executable, "-c", BOMB_CHILD, shape, mode],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: Dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.integration  # a fresh interpreter per shape, for a clean peak
@pytest.mark.parametrize("shape", ["frame", "fragments"])
def test_bomb_costs_the_limit_and_a_constant(shape: str) -> None:
    # A bomb of 256 MiB of zeros (about 256 KiB compressed) against a 4 MiB
    # limit: 1009, having allocated at most the limit plus 64 KiB besides
    # the read in hand, whether it comes as one frame or as fragments.
    limit, read = 4 * MiB, 64 * KiB
    traced = run_bomb_child(shape, "trace")
    assert traced["code"] == 1009
    # Refused on the first read: the rest of the frame is never buffered.
    assert traced["received"] == read < traced["wire"]
    assert traced["peak"] <= limit + read + 64 * KiB, traced
    rss = run_bomb_child(shape, "rss")
    assert rss["code"] == 1009
    print(
        f"deflate bomb ({shape}): tracemalloc peak +{traced['peak'] / MiB:.3f} "
        f"MiB, VmHWM +{rss['peak'] / MiB:.3f} MiB, limit {limit / MiB:.0f} MiB"
    )
