"""Side-by-side report of fanout.sh: a markdown table and a latency chart.

    python benchmarks/fanout_report.py OUTDIR RESULTS.jsonl...

Reads the records that the kit's run_fanout.sh appends (one per step) and
writes OUTDIR/report.md and OUTDIR/latency.png (p50 and p99 latency
against the broadcast rate, one line per system; matplotlib).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional

P99_LIMIT_MS = 100.0


def load(paths: List[str]) -> List[Dict[str, Any]]:
    records = []
    for path in paths:
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def passes(r: Dict[str, Any]) -> bool:
    return (
        r["expected"] > 0
        and r["lost"] == 0
        and r["errors"] == 0
        and r["lat_ms"]["p99"] < P99_LIMIT_MS
    )


def sustained(rows: List[Dict[str, Any]]) -> Optional[float]:
    """The highest rate that passes, as does every lower one."""
    best = None
    for r in sorted(rows, key=lambda r: r["rate"]):
        if not passes(r):
            break
        best = r["rate"]
    return best


def cells(values: List[Optional[float]], spec: str = ".0f") -> str:
    return " / ".join(format(x, spec) for x in values if x is not None)


def opt(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(records: List[Dict[str, Any]]) -> str:
    lines = [
        "| system | rate/s | delivered / sent x clients | p50 ms | p99 ms | max ms "
        "| server CPU % | server µs/event | loadgen CPU % | loadgen µs/event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(records, key=lambda r: (r["name"], r["rate"])):
        lat, cpu = r["lat_ms"], r["cpu_pct"]
        lines.append(
            f"| {r['name']} | {r['rate']:g} | {r['delivered']} / {r['expected']} "
            f"| {lat['p50']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f} "
            f"| {cells(cpu['servers'])} | {opt(r['srv_us_per_event'])} "
            f"| {cells(cpu['loadgens'])} | {opt(r['lg_us_per_event'])} |"
        )
    lines.append("")
    for name in sorted({r["name"] for r in records}):
        rows = [r for r in records if r["name"] == name]
        best = sustained(rows)
        costs = [
            opt(r["srv_us_per_event"])
            for r in sorted(rows, key=lambda r: r["rate"])
            if best is not None and r["rate"] <= best
        ]
        lines.append(
            f"- {name}: highest rate with p99 < {P99_LIMIT_MS:.0f} ms and nothing "
            f"lost: {'none' if best is None else f'{best:g}/s'}; server µs per "
            f"delivered event up to it: {', '.join(costs) or '-'}"
        )
    return "\n".join(lines) + "\n"


def chart(records: List[Dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for name in sorted({r["name"] for r in records}):
        rows = [r for r in records if r["name"] == name]
        rows.sort(key=lambda r: r["rate"])
        rates = [r["rate"] for r in rows]
        (line,) = ax.plot(
            rates, [r["lat_ms"]["p99"] for r in rows], marker="o", label=f"{name} p99"
        )
        ax.plot(
            rates,
            [r["lat_ms"]["p50"] for r in rows],
            marker=".",
            linestyle="--",
            color=line.get_color(),
            label=f"{name} p50",
        )
    ax.axhline(P99_LIMIT_MS, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("broadcasts per second (to 1000 clients over 2 processes)")
    ax.set_ylabel("latency, ms")
    ax.set_title("Fan-out over Redis: publisher to client latency")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    out, paths = sys.argv[1], sys.argv[2:]
    records = load(paths)
    text = report(records)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    chart(records, os.path.join(out, "latency.png"))


if __name__ == "__main__":
    main()
