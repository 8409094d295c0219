#!/usr/bin/env bash
# Side-by-side benchmark of wsocket's echo servers against the peers of
# ../shared/bench (gevent-websocket, flask-sock, websockets, aiohttp, ws4py
# and a C limit), in one session, so that the ratios mean something.
#
#   bash benchmarks/run.sh                      # WebSocket suite, 3 rounds
#   bash benchmarks/run.sh --rounds 1 --only c-limit,aiohttp,wsocket/gevent
#   bash benchmarks/run.sh --suite http         # plain-HTTP hello world (wrk)
#
# Extra arguments go to compare.py. Results: benchmarks/results/<stamp>.md
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
shared="${WSOCKET_BENCH_KIT:-$root/../shared/bench}"
work="${WSOCKET_BENCH_WORK:-/tmp/wsocket-bench}"
venv="${BENCH_VENV:-/tmp/bench-venv}"

[ -f "$shared/compare.py" ] || { echo "benchmark kit not found at $shared" >&2; exit 1; }

# The kit may be read-only: build it in a scratch copy.
rm -rf "$work"
cp -r "$shared" "$work"
make -s -C "$work"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q -r "$work/requirements-peers.txt"
# gunicorn's gevent worker imports packaging, which the peers do not pull in.
"$venv/bin/pip" install -q packaging
WSOCKET_BUILD_EXTENSION=1 "$venv/bin/pip" install -q "$root"
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq wrk
fi

mkdir -p "$here/results"
stamp="$(date -u +%Y%m%d-%H%M%S)"
cd "$work"
python3 compare.py --python "$venv/bin/python" \
    --results-dir "$here/results/raw" --out "$here/results/$stamp.md" \
    --server "wsocket/gevent={python} $root/examples/echo.py --port {port} --server gevent --quiet" \
    --server "wsocket/threading={python} $root/examples/echo.py --port {port} --server threading --quiet" \
    --server "wsocket/gunicorn-gevent={venv}/gunicorn -k gevent -w 1 -b 127.0.0.1:{port} --no-control-socket --chdir $root/examples echo:app" \
    --http-server "wsocketapp+nodelay={python} $here/http_hello.py {port} pywsgi-nodelay wsocketapp" \
    --http-server "run-gevent/bare={python} $here/http_hello.py {port} wsocket-gevent bare" \
    --http-server "run-gevent/wsocketapp={python} $here/http_hello.py {port} wsocket-gevent wsocketapp" \
    --http-server "run-gevent/bottle={python} $here/http_hello.py {port} wsocket-gevent bottle" \
    --http-server "run-threading/bare={python} $here/http_hello.py {port} wsocket-threading bare" \
    --http-server "run-threading/wsocketapp={python} $here/http_hello.py {port} wsocket-threading wsocketapp" \
    --http-server "run-threading/bottle={python} $here/http_hello.py {port} wsocket-threading bottle" \
    "$@"
echo "report: $here/results/$stamp.md"
