#!/usr/bin/env bash
# Issue 13's benchmarks (../shared/bench/compare.py, interleaved rounds, medians):
#   bash bench/was.sh [rounds] [duration] [fanout|select|all]
# 1. fan-out view (3 concurrent calls to a 20 ms member), wrk -c8 and -c64:
#    skitai 2 workers x 4 threads, Flask + was.get  vs  gunicorn gthread 2x4, Flask + requests
#    (sequential)  vs  uvicorn 2 workers, Starlette + aiohttp asyncio.gather (the ceiling)
# 2. SELECT 1 per request: skitai Flask + was.postgresql  vs  gunicorn gthread 2x4 Flask +
#    psycopg pool  vs  uvicorn 2 workers Starlette + asyncpg (its pool as asyncpg makes it,
#    and, as uvicorn-2-asyncio-noreset, without the reset query it runs per release).
# (skitai-was-2x4-nolend: the same app with max-threads = threads, so a view waiting on was
#  keeps its thread: 8 threads serve at most 8 requests at once; by default a waiting
#  view's thread lends its place, up to 4 x threads in all: worker/pool.py.)
# Needs: pip install gunicorn 'uvicorn[standard]' aiohttp requests 'psycopg[binary,pool]' starlette
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-3}
duration=${2:-8}
only=${3:-all}  # "select": the SELECT 1 table alone (3 servers), "fanout": the fan-out ones
shared=${BENCH_SHARED:-$(cd "$root/../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
py=${PYTHON:-python3}
member_port=23100
varpath16=$(mktemp -d)  # a second instance of the same script needs its own pid file
export WAS_MEMBER=127.0.0.1:$member_port PYTHONPATH=$root
$py -m uvicorn --app-dir "$root/bench" was_member:app --port $member_port --workers 2 \
  --no-access-log --log-level warning &
member=$!
trap 'kill $member' EXIT
for _ in $(seq 100); do  # the member answers before any server is measured
  $py -c "import socket; socket.create_connection(('127.0.0.1', $member_port), 1)" 2>/dev/null && break
  sleep 0.2
done
servers=(
  --server "skitai-was-2x4@23101=env SKITAI_PORT={port} SKITAI_WORKERS=2 SKITAI_THREADS=4 $py $root/bench/was_fanout_skitai.py"
  --server "gunicorn-gthread-2x4@23102=$py -m gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:{port} --chdir $root/bench was_fanout_wsgi:app"
  --server "skitai-was-2x4-nolend@23104=env SKITAI_PORT={port} SKITAI_WORKERS=2 SKITAI_THREADS=4 SKITAI_MAX_THREADS=4 SKITAI_VARPATH=$varpath16 $py $root/bench/was_fanout_skitai.py"
  --server "uvicorn-2-asyncio@23103=$py -m uvicorn --workers 2 --http httptools --loop uvloop --no-access-log --port {port} --app-dir $root/bench was_fanout_asgi:app"
)
if [ "$only" != select ]; then
  for c in 8 64; do
    echo "## fan-out, 3 calls to a 20 ms member, wrk -c$c"
    $py "$shared/compare.py" --rounds "$rounds" --duration "$duration" --connections $c \
      --path /fanout "${servers[@]}"
  done
fi
# WAS_BASE=/path/to/another/tree: its skitai as one more peer ("skitai-base-2x4"), before/after
if [ -n "${WAS_BASE:-}" ]; then
  varbase=$(mktemp -d)
  servers+=(--server "skitai-base-2x4@23105=env PYTHONPATH=$WAS_BASE SKITAI_PORT={port} SKITAI_WORKERS=2 SKITAI_THREADS=4 SKITAI_VARPATH=$varbase $py $WAS_BASE/bench/was_fanout_skitai.py")
fi
if [ "$only" != fanout ]; then
  echo "## SELECT 1 per request, wrk -c64"
  # skitai-was-2x4-nolend left out: a SELECT is too short for lending to matter
  # skitai-saddle-2x4: the same query from a Saddle view (bench/was_select_saddle.py): Flask
  # costs about 360k instructions a request by itself, more than uvicorn + Starlette + asyncpg
  # together (about 410k with the query), so this row is skitai's own stack against theirs.
  # uvicorn-2-asyncio-noreset: the same peer without asyncpg's reset query per release (a
  # second round trip per request that skitai's pgpool does not make; ASYNCPG_RESET=0).
  varsaddle=$(mktemp -d)
  $py "$shared/compare.py" --rounds "$rounds" --duration "$duration" --connections 64 \
    --path /select1 "${servers[@]:0:4}" "${servers[@]:6}" \
    --server "skitai-saddle-2x4@23106=env SKITAI_PORT={port} SKITAI_WORKERS=2 SKITAI_THREADS=4 SKITAI_VARPATH=$varsaddle $py $root/bench/was_select_saddle.py" \
    --server "uvicorn-2-asyncio-noreset@23107=env ASYNCPG_RESET=0 $py -m uvicorn --workers 2 --http httptools --loop uvloop --no-access-log --port {port} --app-dir $root/bench was_fanout_asgi:app"
fi
