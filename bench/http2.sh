#!/usr/bin/env bash
# Issue 5's HTTP/2 benchmark: h2load over h2c (prior knowledge), skitai vs hypercorn,
# the same number of worker processes, interleaved rounds (../shared/bench/compare.py).
#   bash bench/http2.sh [rounds] [workers] [requests]
# Needs: apt-get install nghttp2-client (h2load); pip install hypercorn.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
workers=${2:-1}
requests=${3:-200000}
# ../shared/bench from the main checkout; BENCH_SHARED (default /work/shared/bench) from a worktree
shared=${BENCH_SHARED:-$(cd ../shared/bench 2>/dev/null && pwd || echo /work/shared/bench)}
export BENCH_SHARED=$shared PYTHONPATH=$PWD
py=${PYTHON:-$root/.venv/bin/python}
# hypercorn closes a connection after 1000 requests by default (h2load counts those as
# failures): lift that, as skitai has no such limit.
hconf=$(mktemp --suffix .toml)
echo "keep_alive_max_requests = 100000000" >"$hconf"
# our own pid file / control socket directory: other runs of skitai_hello.py may be up
var=$(mktemp -d)
trap 'rm -rf "$hconf" "$var"' EXIT
cmp="$py $shared/compare.py --scenario h2load --rounds $rounds --h2-requests $requests --h2-clients 16 --h2-streams 32"

echo "## hello world over h2c, h2load -c16 -m32, $workers worker(s): skitai (threads=0 and 4) vs hypercorn"
$cmp --path / \
  --server "skitai-t0@18711=env SKITAI_PORT={port} SKITAI_VARPATH=$var/t0 SKITAI_THREADS=0 SKITAI_WORKERS=$workers $py $root/bench/skitai_hello.py" \
  --server "skitai-t4@18712=env SKITAI_PORT={port} SKITAI_VARPATH=$var/t4 SKITAI_THREADS=4 SKITAI_WORKERS=$workers $py $root/bench/skitai_hello.py" \
  --server "hypercorn@18713=$py -m hypercorn --workers $workers -c $hconf --bind 127.0.0.1:{port} hello_asgi:app" \
  --cwd "$shared"
