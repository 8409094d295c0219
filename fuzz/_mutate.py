"""Run a harness on mutations of its corpus for a while, without atheris.

For builds with a sanitizer: when Python runs with gcc's AddressSanitizer
preloaded, libFuzzer takes its coverage callbacks from the sanitizer's
library and atheris finds no new input, so such a build is fuzzed by
mutation alone, from a corpus grown beforehand by a coverage-guided run::

    LD_PRELOAD=$(gcc -print-file-name=libasan.so) \\
    ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc \\
    nice -n 19 python _mutate.py scan 600 [CORPUS_DIR ...]

Arguments: the target (``fuzz_TARGET.py``), the seconds to run, and the
directories of inputs to mutate (``corpus/TARGET`` by default). The seed of
the random generator is printed, and ``WSOCKET_FUZZ_SEED`` sets it, so a run
can be repeated. An input that breaks the harness is written to
``crash-SHA1`` before the error is raised.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import sys
import time
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent

# Bytes that mean something in a frame header: FIN and opcodes, RSV bits,
# the mask bit, the extended length markers.
MAGIC = [
    0x00,
    0x01,
    0x02,
    0x80,
    0x81,
    0x82,
    0x88,
    0x89,
    0x8A,
    0xC1,
    0x7D,
    0x7E,
    0x7F,
    0xFE,
    0xFF,
    0xED,
    0xA0,
    0xC3,
]


def mutate(rng: random.Random, data: bytes, corpus: List[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        at = rng.randint(0, len(buf))
        if choice == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[min(at, len(buf) - 1)] = rng.choice(MAGIC)
        elif choice == 2:
            buf[at:at] = os.urandom(rng.randint(1, 8))
        elif choice == 3:
            del buf[at : at + rng.randint(1, 16)]
        elif choice == 4 and buf:
            start = rng.randrange(len(buf))
            buf[at:at] = buf[start : start + rng.randint(1, 64)]
        elif choice == 5:
            other = rng.choice(corpus)
            start = rng.randint(0, len(other))
            buf[at:] = other[start:]
        else:
            buf = buf[: rng.randint(0, len(buf))]
    return bytes(buf[:4096])


def main(argv: List[str]) -> None:
    target, seconds = argv[1], float(argv[2])
    dirs = [Path(d) for d in argv[3:]] or [HERE / "corpus" / target]
    sys.path.insert(0, str(HERE))
    harness = importlib.import_module(f"fuzz_{target}")
    corpus = [p.read_bytes() for d in dirs for p in sorted(d.iterdir())]
    if not corpus:
        sys.exit(f"no inputs in {', '.join(map(str, dirs))}")
    seed = int(
        os.environ.get("WSOCKET_FUZZ_SEED") or int.from_bytes(os.urandom(4), "big")
    )
    print(f"fuzz_{target}: {len(corpus)} inputs, seed {seed}, {seconds:.0f} s")
    rng = random.Random(seed)
    for data in corpus:
        harness.test_one_input(data)
    runs = 0
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            data = mutate(rng, rng.choice(corpus), corpus)
            try:
                harness.test_one_input(data)
            except BaseException:
                name = f"crash-{hashlib.sha1(data).hexdigest()}"
                Path(name).write_bytes(data)
                print(f"failure on input {name}")
                raise
            runs += 1
    elapsed = time.monotonic() - started
    print(f"fuzz_{target}: {runs} runs in {elapsed:.0f} s, no failure")


if __name__ == "__main__":
    main(sys.argv)
