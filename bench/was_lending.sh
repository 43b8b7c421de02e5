#!/usr/bin/env bash
# Issue 13: what lending a waiting thread's place costs or gains, one compare.py run:
#   bash bench/was_lending.sh [rounds] [path]      path: /select1 (default) or /fanout
# skitai 2 workers x 4 threads, the same Flask app (bench/was_fanout_skitai.py) with
# max_threads 16 (the default: HTTP calls lend, database calls keep their place),
# max_threads 8, and max_threads 4 (no lending); WAS_BASE=/other/tree adds that tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-4}
path=${2:-/select1}
shared=${BENCH_SHARED:-$(cd "$root/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
py=${PYTHON:-python3}
member_port=23300
export WAS_MEMBER=127.0.0.1:$member_port
$py -m uvicorn --app-dir "$root/bench" was_member:app --port $member_port --workers 2 \
  --no-access-log --log-level warning &
member=$!
trap 'kill $member' EXIT
for _ in $(seq 100); do
  $py -c "import socket; socket.create_connection(('127.0.0.1', $member_port), 1)" 2>/dev/null && break
  sleep 0.2
done
run() {  # NAME PORT TREE MAX_THREADS
  echo "$1@$2=env PYTHONPATH=$3 SKITAI_VARPATH=$(mktemp -d) SKITAI_MAX_THREADS=$4 SKITAI_PORT={port} SKITAI_WORKERS=2 SKITAI_THREADS=4 $py $3/bench/was_fanout_skitai.py"
}
servers=(--server "$(run max16 23301 "$root" 16)" --server "$(run max8 23302 "$root" 8)"
         --server "$(run nolend 23303 "$root" 4)")
if [ -n "${WAS_BASE:-}" ]; then
  servers+=(--server "$(run base 23304 "$WAS_BASE" 0)")
fi
$py "$shared/compare.py" --rounds "$rounds" --duration 6 --connections 64 --path "$path" "${servers[@]}"
