#!/usr/bin/env bash
# Issue 12's benchmark: skitai's reverse proxy (one worker, threads=0) vs nginx proxy_pass
# (worker_processes 1, upstream keepalive 32), both in front of the same two granian
# members; and a member alone, to show what a proxy costs.
#   bash bench/proxy.sh [rounds] [duration]
# Needs: apt-get install wrk nginx-light; pip install granian.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
duration=${2:-8}
shared=$(cd ../shared/bench 2>/dev/null && pwd || echo /work/shared/bench)
py=${PYTHON:-python3}
granian=${GRANIAN:-granian}
m1=18101
m2=18102
pids=()
for p in $m1 $m2; do
  (cd "$shared" && exec $granian --interface wsgi --host 127.0.0.1 --port $p --workers 1 \
     --no-ws hello_wsgi:app >/dev/null 2>&1) &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for p in $m1 $m2; do
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$p/" >/dev/null && break
    sleep 0.2
  done
done
export PYTHONPATH=$root BENCH_MEMBERS=127.0.0.1:$m1,127.0.0.1:$m2
$py "$shared/compare.py" --rounds "$rounds" --duration "$duration" --connections 64 --path / \
  --server "nginx-proxy@18110=bash $root/bench/nginx_proxy.sh {port} $m1 $m2" \
  --server "skitai-proxy@18111=env SKITAI_PORT={port} $py $root/bench/skitai_proxy.py" \
  --server "granian-direct@18112=$granian --interface wsgi --host 127.0.0.1 --port {port} --workers 1 --no-ws hello_wsgi:app" \
  --cwd "$shared"
