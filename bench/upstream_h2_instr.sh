#!/usr/bin/env bash
# Client instructions per request of the upstream pool to one TLS member (a skitai server
# with TLS), HTTP/2 against HTTP/1.1 keep-alive, 32 concurrent GETs: counted by callgrind
# in the client process only (runs of N and 3N requests; the difference removes start-up
# and the handshakes).
#   bash bench/upstream_h2_instr.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
py=${PYTHON:-python3}
fifo=$(mktemp -u); mkfifo "$fifo"
"$py" bench/upstream_h2.py --member >"$fifo" & member=$!
trap 'kill $member 2>/dev/null; rm -f "$fifo"' EXIT
read -r port cafile <"$fifo"
count() {
  PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$py" bench/upstream_h2.py --client "$port" "$cafile" "$1" "$2" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
for proto in h2 http/1.1; do
  a=$(count "$proto" "$n")
  b=$(count "$proto" $((3 * n)))
  echo "$proto: $(( (b - a) / (2 * n) )) instructions/request"
done
