"""HTTP/2 over h2c against the same server's HTTP/1.1 keep-alive (issue 11's speed goal).

    python bench/h2_vs_h1.py [rounds] [workers] [threads]

Alternates, round by round, ``compare.py --scenario wrk`` (keep-alive, -c64) and
``compare.py --scenario h2load`` (-c16 -m10) against skitai serving the shared hello
world with the same worker and thread counts, and prints both medians and h2c/h1.
The machine is shared: the ratio in one run is the number to read.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# SKITAI_ROOT: another checkout to measure (a before/after table from one script)
ROOT = os.environ.get("SKITAI_ROOT") or os.path.dirname(HERE)
# ../shared/bench beside the main checkout; from a worktree, /work/shared/bench
SHARED = os.environ.get("BENCH_SHARED") or next(
    (p for p in (os.path.join(ROOT, "..", "shared", "bench"), "/work/shared/bench")
     if os.path.isdir(p)), "/work/shared/bench")


def run(scenario: str, workers: int, threads: int, var: str) -> float:
    py = os.environ.get("PYTHON", sys.executable)
    out = tempfile.mktemp(suffix=".json")
    server = (f"skitai@18741=env SKITAI_PORT={{port}} SKITAI_VARPATH={var} "
              f"SKITAI_THREADS={threads} SKITAI_WORKERS={workers} BENCH_SHARED={SHARED} "
              f"PYTHONPATH={ROOT} {py} {ROOT}/bench/skitai_hello.py")
    cmd = [py, os.path.join(SHARED, "compare.py"), "--scenario", scenario, "--rounds", "1",
           "--h2-requests", "100000", "--h2-clients", "16", "--h2-streams", "10",
           "--server", server, "--json", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        result = json.load(f)["servers"][0]["results"][0]
    os.unlink(out)
    return float(result["rps"])


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    var = tempfile.mkdtemp()
    print(f"code: {ROOT}", file=sys.stderr)
    h1: list[float] = []
    h2: list[float] = []
    for i in range(rounds):
        for scenario, into in (("wrk", h1), ("h2load", h2))[:: 1 if i % 2 == 0 else -1]:
            into.append(run(scenario, workers, threads, var))
            print(f"round {i + 1} {scenario}: {into[-1]:.0f} req/s", file=sys.stderr)
    a, b = statistics.median(h1), statistics.median(h2)
    print(f"\n| skitai, {workers} workers, threads={threads} | req/s (median of {rounds}) | raw |")
    print("|---|---:|---|")
    print(f"| HTTP/1.1 keep-alive, wrk -c64 | {a:.0f} | {', '.join(f'{x:.0f}' for x in h1)} |")
    print(f"| h2c, h2load -c16 -m10 | {b:.0f} | {', '.join(f'{x:.0f}' for x in h2)} |")
    print(f"\nh2c / HTTP/1.1 = {b / a:.3f}")


if __name__ == "__main__":
    main()
