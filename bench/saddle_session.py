"""Session read+write per request: Saddle vs Flask on skitai, and Flask on gunicorn gthread.

    python3 bench/saddle_session.py [--rounds 3] [--duration 8] [--connections 64]

Each server runs 2 worker processes with 4 threads.  Every server's own session cookie is
fetched once and sent with every request (wrk -H 'Cookie: ...'), so each request opens
the cookie, changes the value and seals a new one.  Rounds are interleaved (the order
rotates) and the table prints medians with each server's ratio to the first.  The load
generator shares the machine with the servers (and with whatever else runs there).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from procs import free_port, stop  # noqa: E402

PY = sys.executable
ENV = "SKITAI_WORKERS=2 SKITAI_THREADS=4 SKITAI_PORT={port}"
SERVERS = [
    ("saddle-skitai", f"env {ENV} BENCH_APP=saddle SKITAI_VARPATH=/tmp/bench-saddle-var {PY} {HERE}/session_apps.py"),
    ("flask-skitai", f"env {ENV} BENCH_APP=flask SKITAI_VARPATH=/tmp/bench-flask-var {PY} {HERE}/session_apps.py"),
    ("flask-gunicorn-gthread", f"{PY} -m gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:{{port}} --chdir {HERE} session_apps:flask_app"),
]


def start(cmd: str, port: int, log: str) -> subprocess.Popen[bytes]:
    out = open(log, "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(shlex.split(cmd.format(port=port)), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=HERE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise SystemExit(f"server did not start: {cmd} (log: {log})")


def cookie_of(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return "; ".join(v.split(";", 1)[0] for v in r.headers.get_all("Set-Cookie") or [])


def wrk(port: int, cookie: str, args: argparse.Namespace) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.duration}s", "--latency",
         "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
    if "Non-2xx" in out:
        raise SystemExit(f"errors from port {port}:\n{out}")
    return rps, p99


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    logdir = os.environ.get("TMPDIR", "/tmp")
    running = []
    try:
        for name, cmd in SERVERS:
            port = free_port()
            proc = start(cmd, port, os.path.join(logdir, f"bench-{name}.log"))
            cookie = cookie_of(port)
            if not cookie:
                raise SystemExit(f"{name} set no session cookie")
            running.append((name, port, proc, cookie))
            wrk(port, cookie, argparse.Namespace(connections=8, duration=2))  # warm-up
        results: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in running}
        for r in range(args.rounds):
            order = running[r % len(running):] + running[: r % len(running)]
            for name, port, _, cookie in order:
                results[name].append(wrk(port, cookie, args))
    finally:
        for _, _, proc, _ in running:
            stop(proc)
    base = statistics.median(x[0] for x in results[running[0][0]])
    print(f"session read+write per request, wrk -t2 -c{args.connections} -d{args.duration}s, "
          f"{args.rounds} interleaved rounds, medians (shared machine)\n")
    print("| server | req/s | p99 ms | ratio |")
    print("|---|---:|---:|---:|")
    for name, *_ in running:
        rps = statistics.median(x[0] for x in results[name])
        p99 = statistics.median(x[1] for x in results[name])
        print(f"| {name} | {rps:,.0f} | {p99:.1f} | {rps / base:.2f}x |")


if __name__ == "__main__":
    main()
