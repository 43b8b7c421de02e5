#!/usr/bin/env bash
# Issue 2's benchmarks: one worker process each, interleaved rounds (../shared/bench/compare.py).
#   bash bench/web.sh [rounds] [duration]
# Needs: apt-get install wrk nginx-light; pip install gunicorn waitress 'uvicorn[standard]'.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
duration=${2:-8}
# ../shared/bench from the main checkout; BENCH_SHARED (default /work/shared/bench) from a worktree
shared=${BENCH_SHARED:-$(cd ../shared/bench 2>/dev/null && pwd || echo /work/shared/bench)}
static=$(mktemp -d)
head -c 65536 /dev/urandom >"$static/64k.bin"
export BENCH_STATIC_DIR=$static BENCH_SHARED=$shared PYTHONPATH=$PWD
py=${PYTHON:-python3}
cmp="$py $shared/compare.py --rounds $rounds --duration $duration --connections 64"

echo "## hello world, keep-alive, wrk -c64: threads=4 vs gunicorn gthread and waitress"
$cmp --path / \
  --server "skitai-t4@18001=env SKITAI_PORT={port} SKITAI_THREADS=4 $py $root/bench/skitai_hello.py" \
  --server "gunicorn-gthread4@18002=$py -m gunicorn -w 1 -k gthread --threads 4 -b 127.0.0.1:{port} --chdir $shared hello_wsgi:app" \
  --server "waitress-t4@18003=$py -m waitress --threads 4 --listen 127.0.0.1:{port} hello_wsgi:app" \
  --cwd "$shared"

echo "## hello world, keep-alive: threads=0 vs uvicorn (httptools, uvloop, ASGI)"
$cmp --path / \
  --server "skitai-t0@18004=env SKITAI_PORT={port} SKITAI_THREADS=0 $py $root/bench/skitai_hello.py" \
  --server "uvicorn@18005=$py -m uvicorn --workers 1 --http httptools --loop uvloop --no-access-log --port {port} --app-dir $shared hello_asgi:app" \
  --cwd "$shared"

echo "## 64 KiB static file: skitai vs nginx (worker_processes 1)"
$cmp --path /static/64k.bin \
  --server "skitai-static@18006=env SKITAI_PORT={port} SKITAI_THREADS=4 $py $root/bench/skitai_hello.py" \
  --server "nginx@18007=bash $root/bench/nginx_static.sh {port}" \
  --cwd "$shared"
rm -rf "$static"
