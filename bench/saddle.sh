#!/usr/bin/env bash
# Issue 14's benchmark: Saddle vs the same Flask app, 2 workers each (../shared/bench/compare.py).
#   bash bench/saddle.sh [rounds] [duration]
# Needs: apt-get install wrk; pip install gunicorn (Flask is in the test extra).
#   /hello  a small string;  /items  a Jinja2 template with a loop over 20 items
# Servers: Saddle under skitai (2 workers x 4 threads, and threads=0), Flask under skitai
# (2 x 4) and Flask under gunicorn gthread (2 x 4).  Then the worker RSS of each after load.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
duration=${2:-8}
shared=${BENCH_SHARED:-/work/shared/bench}
py=${PYTHON:-python3}
export PYTHONPATH=$root
cmp="$py $shared/compare.py --rounds $rounds --duration $duration --connections 64 --cwd $root/bench"
skitai="$py $root/bench/saddle_apps.py"
for path in /hello /items; do
  echo "## $path, keep-alive, wrk -c64, 2 workers each"
  $cmp --path "$path" \
    --server "saddle-t4@18201=env SKITAI_PORT={port} SKITAI_VARPATH=/tmp/saddle-bench-{port} SKITAI_WORKERS=2 SKITAI_THREADS=4 BENCH_FRAMEWORK=saddle $skitai" \
    --server "saddle-t0@18202=env SKITAI_PORT={port} SKITAI_VARPATH=/tmp/saddle-bench-{port} SKITAI_WORKERS=2 SKITAI_THREADS=0 BENCH_FRAMEWORK=saddle $skitai" \
    --server "flask-skitai-t4@18203=env SKITAI_PORT={port} SKITAI_VARPATH=/tmp/saddle-bench-{port} SKITAI_WORKERS=2 SKITAI_THREADS=4 BENCH_FRAMEWORK=flask $skitai" \
    --server "flask-gunicorn-2x4@18204=$py -m gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:{port} --chdir $root/bench flask_bench:app"
done
echo "## worker RSS after load (MiB, sum of the 2 workers)"
$py "$root/bench/saddle_rss.py" "$duration"
