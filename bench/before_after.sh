#!/usr/bin/env bash
# Before/after tables for issues 9 and 11: this tree ("new") against another checkout
# ("old", OLD_ROOT, e.g. `git worktree add /tmp/old-main 2f3e9dc`) and the peers, all in
# one compare.py run per table (interleaved rounds; ratios to the first server).
#   OLD_ROOT=/tmp/old-main bash bench/before_after.sh [rounds] [duration] [which...]
# which: w1 (hello, 1 worker), w2 (hello, 2 workers), static (64 KiB vs nginx); default all.
# Each tree runs with its own venv (TREE/.venv/bin/python, an editable install of that tree:
# an editable install wins over PYTHONPATH, so one venv cannot serve both).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
old=${OLD_ROOT:?set OLD_ROOT to the old checkout}
rounds=${1:-3}
duration=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
which=${*:-w1 w2 static}
shared=${BENCH_SHARED:-$(cd ../shared/bench 2>/dev/null && pwd || echo /work/shared/bench)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 65536 /dev/urandom >"$work/64k.bin"
export BENCH_STATIC_DIR=$work BENCH_SHARED=$shared
py=${PYTHON:-python3}
cmp="$py $shared/compare.py --rounds $rounds --duration $duration --connections 64 --warmup 1 --cwd $shared"
# skitai TREE WORKERS THREADS: the command for one skitai server from TREE
skitai() { echo "env SKITAI_PORT={port} SKITAI_WORKERS=$2 SKITAI_THREADS=$3 SKITAI_VARPATH=$work/var-$RANDOM $1/.venv/bin/python $1/bench/skitai_hello.py"; }

for w in $which; do
  case $w in
  w1|w2)
    n=${w#w}
    echo "## hello world, $n worker(s), keep-alive, wrk -c64: old vs new, threads=0 and 4"
    $cmp --path / \
      --server "new-t0@184${n}0=$(skitai "$root" "$n" 0)" \
      --server "old-t0@184${n}1=$(skitai "$old" "$n" 0)" \
      --server "new-t4@184${n}2=$(skitai "$root" "$n" 4)" \
      --server "old-t4@184${n}3=$(skitai "$old" "$n" 4)" \
      --server "gunicorn-gthread4@184${n}4=$py -m gunicorn -w $n -k gthread --threads 4 -b 127.0.0.1:{port} --chdir $shared hello_wsgi:app" \
      --server "uvicorn@184${n}5=$py -m uvicorn --workers $n --http httptools --loop uvloop --no-access-log --port {port} --app-dir $shared hello_asgi:app"
    ;;
  static)
    echo "## 64 KiB static file, 1 worker: old vs new vs nginx (worker_processes 1, sendfile on)"
    $cmp --path /static/64k.bin \
      --server "nginx@18370=bash $root/bench/nginx_static.sh {port}" \
      --server "new-static@18371=$(skitai "$root" 1 4)" \
      --server "old-static@18372=$(skitai "$old" 1 4)"
    ;;
  *) echo "unknown table $w" >&2; exit 2 ;;
  esac
done
