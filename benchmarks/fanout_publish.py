"""The fan-out benchmark's publisher: an Emitter broadcasting at a fixed rate.

    python benchmarks/fanout_publish.py REDIS_URL RATE SECONDS

Sends RATE x SECONDS ``tick`` events to the room ``all``, each carrying its
send time (``"t"``, CLOCK_MONOTONIC ns) and its number (``"n"``), paced by
absolute deadlines, and prints one JSON line (``sent``, ``cpu_s``,
``achieved_per_s``, ``late_ms_max``).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wsocket.realtime import Emitter  # noqa: E402

url, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
with Emitter(url) as emitter:
    # The first command opens the connection: keep that out of the timings.
    emitter.broadcast("warm-up", None, room="nobody")
    count = int(rate * seconds)
    cpu = time.process_time()
    start = time.monotonic() + 0.05
    late = 0.0
    for n in range(count):
        due = start + n / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        else:
            late = max(late, now - due)
        emitter.broadcast("tick", {"t": time.monotonic_ns(), "n": n}, room="all")
    elapsed = time.monotonic() - start
    print(
        json.dumps(
            {
                "sent": count,
                "elapsed_s": round(elapsed, 3),
                "cpu_s": round(time.process_time() - cpu, 3),
                "achieved_per_s": round(count / elapsed, 2),
                "late_ms_max": round(late * 1000, 3),
            }
        )
    )
