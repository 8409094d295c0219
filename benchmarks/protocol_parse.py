"""Receive-path cost of the sans-I/O protocol: masked frames in, messages out.

    python benchmarks/protocol_parse.py                    # this tree only
    python benchmarks/protocol_parse.py --against OLDTREE  # side by side

``OLDTREE`` is another checkout of the project (for example one made with
``git worktree add /tmp/old main`` or ``git archive main | tar -x -C /tmp/old``;
copy or build its ``_speedups`` extension too, or both trees run on the
pure-Python masker). Each tree's ``wsocket`` package is loaded under its own
name in this one process, so the two are timed alternately, round after round,
under the same machine load. Times are the process's CPU time, which other
work on the machine inflates much less than wall time. The table gives the
median rate over the rounds and, side by side, the median of the per-round
ratios.

Each case is N frames as a client sends them (masked with a fresh key each),
built once, then fed to a server-side ``Protocol``:

- ``one-by-one``: one ``receive_data()`` per frame, then ``events_received()``
  and ``data_to_send()``, as a connection that reads one message per wake-up;
- ``batched``: the frames concatenated and fed in 64 KiB reads, draining after
  each read, as a busy connection that finds several messages per read.

``--only TEXT`` keeps the cases whose label contains ``TEXT`` (``--only "64 B"``).
``--profile`` runs each case once under :mod:`cProfile` instead, on this tree
only, and prints the calls per message and where the time goes::

    python benchmarks/protocol_parse.py --profile --only "text 64 B"
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.util
import io
import os
import pstats
import statistics
import sys
import time
from types import ModuleType
from typing import Callable, Dict, List, Tuple

# CPU time of this process: on a shared machine, time spent waiting for a CPU
# would otherwise count against whichever tree was running.
_clock = time.process_time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (label, opcode, payload size, frames per run)
CASES: List[Tuple[str, int, int, int]] = [
    ("text 64 B", 0x1, 64, 20000),
    ("binary 64 B", 0x2, 64, 20000),
    ("text 1 KiB", 0x1, 1024, 10000),
    ("binary 64 KiB", 0x2, 65536, 400),
]


def load_tree(root: str, name: str) -> ModuleType:
    """Import ``root/wsocket`` as the package ``name`` and return its protocol."""
    init = os.path.join(root, "wsocket", "__init__.py")
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[os.path.dirname(init)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.protocol")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked frame, built here so that both trees parse the same bytes."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    repeated = (key * (n // 4 + 1))[:n]
    body = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return header + key + body.to_bytes(n, "big")


def one_by_one(protocol_mod: ModuleType, frames: List[bytes]) -> float:
    protocol = protocol_mod.Protocol(protocol_mod.SERVER, max_message_size=2**20)
    receive = protocol.receive_data
    events = protocol.events_received
    out = protocol.data_to_send
    start = _clock()
    for frame in frames:
        receive(frame)
        events()
        out()
    return _clock() - start


def batched(protocol_mod: ModuleType, stream: bytes) -> float:
    protocol = protocol_mod.Protocol(protocol_mod.SERVER, max_message_size=2**20)
    receive = protocol.receive_data
    events = protocol.events_received
    out = protocol.data_to_send
    view = memoryview(stream)
    step = 65536
    start = _clock()
    for pos in range(0, len(stream), step):
        receive(view[pos : pos + step])
        events()
        out()
    return _clock() - start


def check_same_events(trees: Dict[str, ModuleType], frames: List[bytes]) -> None:
    """Both trees must turn the frames into the same messages."""
    seen = []
    for mod in trees.values():
        protocol = mod.Protocol(mod.SERVER, max_message_size=2**20)
        protocol.receive_data(b"".join(frames[:50]))
        seen.append([event.data for event in protocol.events_received()])
    assert all(s == seen[0] for s in seen), "the trees disagree on the messages"
    assert len(seen[0]) == min(50, len(frames))


def profile(mod: ModuleType, cases: List[Tuple[str, int, int, int]]) -> None:
    """Run each case once under cProfile: calls per message, top functions."""
    for label, opcode, size, count in cases:
        payload = (b"wsocket " * (size // 8 + 1))[:size]
        frames = [client_frame(opcode, payload) for _ in range(count)]
        stream = b"".join(frames)
        for mode in ("one-by-one", "batched"):
            profiler = cProfile.Profile()
            profiler.enable()
            if mode == "one-by-one":
                one_by_one(mod, frames)
            else:
                batched(mod, stream)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            calls = sum(entry[1] for entry in stats.stats.values())  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(8)
            print(f"## {label}, {mode}: {calls / count:.2f} calls per message")
            table = out.getvalue()
            print(table[table.index("ncalls") :].rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", help="another checkout to compare with")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="cases whose label contains this")
    parser.add_argument(
        "--profile", action="store_true", help="profile this tree instead of timing"
    )
    args = parser.parse_args()
    cases = [case for case in CASES if args.only in case[0]]

    trees: Dict[str, ModuleType] = {"this": load_tree(HERE, "wsocket_this")}
    if args.against:
        trees["other"] = load_tree(os.path.abspath(args.against), "wsocket_other")
    for label, mod in trees.items():
        frames_mod = sys.modules[mod.__name__.rsplit(".", 1)[0] + ".frames"]
        masker = frames_mod.apply_mask.__module__
        print(f"# {label}: {os.path.dirname(mod.__file__)} (apply_mask from {masker})")

    if args.profile:
        profile(trees["this"], cases)
        return

    results: Dict[Tuple[str, str, str], List[float]] = {}
    for label, opcode, size, count in cases:
        payload = (b"wsocket " * (size // 8 + 1))[:size]
        frames = [client_frame(opcode, payload) for _ in range(count)]
        stream = b"".join(frames)
        check_same_events(trees, frames)
        runs: List[Tuple[str, Callable[[ModuleType], float]]] = [
            ("one-by-one", lambda mod, frames=frames: one_by_one(mod, frames)),
            ("batched", lambda mod, stream=stream: batched(mod, stream)),
        ]
        for _ in range(args.rounds):
            for mode, run in runs:
                for name, mod in trees.items():
                    gc.collect()
                    seconds = run(mod)
                    results.setdefault((label, mode, name), []).append(count / seconds)

    names = list(trees)
    head = " | ".join(f"{name} msg/s" for name in names)
    ratio = " | this/other" if len(names) == 2 else ""
    print(f"| case | reads | {head}{ratio} |")
    print("|---|---|" + "---:|" * (len(names) + (1 if ratio else 0)))
    for label, _, _, _ in cases:
        for mode in ("one-by-one", "batched"):
            rates = [results[(label, mode, n)] for n in names]
            cells = " | ".join(f"{statistics.median(r):,.0f}" for r in rates)
            extra = ""
            if ratio:
                ratios = [a / b for a, b in zip(*rates)]
                extra = f" | {statistics.median(ratios):.3f}"
            print(f"| {label} | {mode} | {cells}{extra} |")
    print(
        f"medians over {args.rounds} rounds, trees alternating within each round"
        + (" (ratio: median of the per-round ratios)" if ratio else "")
    )


if __name__ == "__main__":
    main()
