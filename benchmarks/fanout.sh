#!/usr/bin/env bash
# Fan-out over Redis, side by side: wsocket's RedisBackend and Flask-SocketIO
# (gevent, Redis message_queue, WebSocket transport), each with 2 server
# processes x 500 clients joined to one room, a publisher broadcasting to it
# at fixed rates (every event carries its send time), and the C load
# generator of ../shared/bench in listen mode holding the clients.
#
#   bash benchmarks/fanout.sh                        # rates 10 20 50 100 200, 10 s each
#   bash benchmarks/fanout.sh --rates "10 50" --seconds 5
#
# Arguments go to the kit's run_fanout.sh for both systems. About 5 minutes
# on a 2-core machine. Results: benchmarks/results/fanout-<stamp>/ (raw
# records of both systems, report.md, latency.png).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
shared="${WSOCKET_BENCH_KIT:-$root/../shared/bench}"
work="${WSOCKET_FANOUT_WORK:-/tmp/wsocket-fanout}"
venv="${FANOUT_VENV:-/tmp/wsocket-fanout-venv}"
out="$here/results/fanout-$(date +%Y%m%d-%H%M%S)"

[ -x "$shared/fanout/run_fanout.sh" ] || { echo "fan-out kit not found at $shared/fanout" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "needs redis-server: apt-get install redis-server" >&2; exit 1; }

# The kit may be read-only: build and run it from a scratch copy.
rm -rf "$work"
cp -r "$shared" "$work"
chmod -R u+w "$work"
make -s -C "$work" bin/loadgen
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q -r "$work/fanout/requirements-fanout.txt" matplotlib
"$venv/bin/pip" install -q -e "$root"  # with the C extension
export FANOUT_VENV="$venv"

args=(--rates "10 20 50 100 200" --seconds 10 "$@")
hello='{"jsonrpc":"2.0","method":"join","params":{"room":"all"},"id":1}'
mkdir -p "$out"
bash "$work/fanout/run_fanout.sh" --name wsocket --out "$out/wsocket" \
    --server "{python} $here/fanout_server.py {port} {redis}" \
    --publisher "{python} $here/fanout_publish.py {redis} {rate} {seconds}" \
    --path /ws --listen-args "--hello '$hello' --ready-on '{'" "${args[@]}"
bash "$work/fanout/run_fanout.sh" --name flask-socketio --out "$out/flask-socketio" "${args[@]}"

"$venv/bin/python" "$here/fanout_report.py" "$out" \
    "$out/wsocket/results.jsonl" "$out/flask-socketio/results.jsonl"
echo "report: $out/report.md, chart: $out/latency.png"
