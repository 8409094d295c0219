#!/usr/bin/env bash
# Broadcast to 1 000 WebSocket clients of one server process: wsocket's events
# (under gevent, and under threads) side by side with Flask-SocketIO
# (async_mode="gevent"), driven by the fan-out kit of ../shared/bench/fanout
# (one C loadgen holds the clients and timestamps every delivery).
#
#   bash benchmarks/broadcast.sh                       # rates 20 50 100 200 /s, 10 s each
#   RATES="50 100" SECONDS_PER_STEP=5 bash benchmarks/broadcast.sh
#
# Results: benchmarks/results/broadcast-<stamp>/<system>/ (raw files and
# results.jsonl), and one summary table per system on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
shared="${WSOCKET_BENCH_KIT:-$root/../shared/bench}"
work="${WSOCKET_BROADCAST_WORK:-/tmp/wsocket-broadcast}"
export FANOUT_VENV="${FANOUT_VENV:-/tmp/wsocket-fanout-venv}"
rates="${RATES:-20 50 100 200}"
seconds="${SECONDS_PER_STEP:-10}"
conns="${CONNS:-1000}"

[ -f "$shared/fanout/run_fanout.sh" ] || { echo "fan-out kit not found at $shared" >&2; exit 1; }

# The kit may be read-only: build it in a scratch copy.
rm -rf "$work"
cp -r "$shared" "$work"
bash "$work/fanout/run_fanout.sh" --setup
WSOCKET_BUILD_EXTENSION=1 "$FANOUT_VENV/bin/pip" install -q "$root"

out="$here/results/broadcast-$(date -u +%Y%m%d-%H%M%S)"
series() {
    local name=$1
    shift
    bash "$work/fanout/run_fanout.sh" --name "$name" --servers 1 --conns "$conns" \
        --rates "$rates" --seconds "$seconds" --out "$out/$name" "$@"
}

# Clients join the room with a call; they are ready once its reply is in.
hello='{"jsonrpc":"2.0","method":"join","params":{"room":"all"},"id":1}'
jsonrpc=(--path /ws --listen-args "--hello '$hello' --ready-on '{'"
         --publisher "{python} {here}/publish_jsonrpc.py {ports} {rate} {seconds} bench")

series flask-socketio
series wsocket-gevent --server "{python} $here/broadcast.py {port} gevent {redis}" "${jsonrpc[@]}"
series wsocket-threading --server "{python} $here/broadcast.py {port} threading {redis}" "${jsonrpc[@]}"
echo "raw results: $out"
