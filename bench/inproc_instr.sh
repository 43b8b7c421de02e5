#!/usr/bin/env bash
# Instructions per request of bench/inproc.py's loop, counted by callgrind: repeatable
# on a noisy machine where wall-clock times are not.  (Two runs of N and 3N requests; the
# difference over 2N removes start-up.)
#   bash bench/inproc_instr.sh [skitai-t0|uvicorn] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
who=${1:-skitai-t0}
n=${2:-2000}
py=${PYTHON:-python3}
count() {
  PYTHONHASHSEED=0 INPROC_ONLY=$who valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$py" bench/inproc.py "$1" 1 2>&1 >/dev/null | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
a=$(count "$n")
b=$(count $((3 * n)))
echo "$who: $(( (b - a) / (2 * n) )) instructions/request"
