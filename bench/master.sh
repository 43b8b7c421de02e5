#!/usr/bin/env bash
# Issue 3's benchmarks: the master with workers=2 against peers with 2 worker processes
# (one run, interleaved rounds, ../shared/bench/compare.py), then a reload under load.
#   bash bench/master.sh [rounds] [duration]
# Needs: apt-get install wrk; pip install gunicorn 'uvicorn[standard]' (in the venv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
duration=${2:-8}
# ../shared/bench from the main checkout; BENCH_SHARED (default /work/shared/bench) from a worktree
shared=${BENCH_SHARED:-$(cd ../shared/bench 2>/dev/null && pwd || echo /work/shared/bench)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BENCH_SHARED=$shared PYTHONPATH=$PWD
py=${PYTHON:-python3}
cmp="$py $shared/compare.py --rounds $rounds --duration $duration --connections 64"
# Each skitai server gets its own var dir (pid file, control socket): two runs of the
# same script must not meet each other's pid file.
skitai() { echo "env SKITAI_PORT={port} SKITAI_WORKERS=2 SKITAI_THREADS=$1 SKITAI_VARPATH=$work/var-$2 $py $root/bench/skitai_hello.py"; }

echo "## hello world, workers=2, keep-alive, wrk -c64: threads=4 vs gunicorn -w 2 gthread 4"
$cmp --path / \
  --server "skitai-w2-t4@18101=$(skitai 4 a)" \
  --server "gunicorn-w2-gthread4@18102=$py -m gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:{port} --chdir $shared hello_wsgi:app" \
  --cwd "$shared"

echo "## hello world, workers=2, keep-alive: threads=0 vs uvicorn --workers 2 (httptools, uvloop, ASGI)"
$cmp --path / \
  --server "skitai-w2-t0@18103=$(skitai 0 b)" \
  --server "uvicorn-w2@18104=$py -m uvicorn --workers 2 --http httptools --loop uvloop --no-access-log --port {port} --app-dir $shared hello_asgi:app" \
  --cwd "$shared"

echo "## reload under load: wrk -c64 for 16 s, HUP to the master at 3, 7 and 11 s"
port=18105
SKITAI_PORT=$port SKITAI_WORKERS=2 SKITAI_THREADS=4 SKITAI_VARPATH=$work/var-reload \
  setsid $py "$root/bench/skitai_hello.py" 2>"$work/reload.log" &
master=$!
for _ in $(seq 100); do
  grep -q "serving on" "$work/reload.log" 2>/dev/null && break
  sleep 0.1
done
wrk -t2 -c64 -d16s "http://127.0.0.1:$port/" >"$work/wrk.txt" &
load=$!
for at in 3 4 4; do
  sleep "$at"
  kill -HUP "$master"
done
wait "$load"
kill -TERM "$master"
wait "$master" || true
cat "$work/wrk.txt"
reloads=$(grep -c "reload: generation .* serves" "$work/reload.log" || true)
non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$work/wrk.txt")
sockerr=$(sed -n 's/.*Socket errors: *\(.*\)/\1/p' "$work/wrk.txt")
echo "reloads completed: $reloads of 3"
echo "non-2xx responses: ${non2xx:-0}"
echo "socket errors: ${sockerr:-none}"
