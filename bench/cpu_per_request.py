"""CPU time per request of each server (user + system of its whole process tree), under
wrk: less at the mercy of a loaded machine than req/s, since a starved server does less
work in the same time but not more work per request.

    python bench/cpu_per_request.py --path /select1 --duration 5 \\
        'name@port=command' ...      (as ../shared/bench/compare.py takes them)

Each server is started, warmed up (2 s of wrk), measured (wrk -c64), stopped; prints
µs of CPU per request for the server's processes (not wrk's, not PostgreSQL's).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import time

import psutil


def tree_cpu(pid: int) -> float:
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} never opened")


def wrk(port: int, path: str, seconds: int, connections: int) -> int:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"(\d+) requests in", out)
    return int(m.group(1)) if m else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", default="/")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("servers", nargs="+")
    args = ap.parse_args()
    print("| server | requests | CPU µs/request | req/s | load |\n|---|---:|---:|---:|---|")
    for spec in args.servers:
        name, _, rest = spec.partition("@")
        port_s, _, cmd = rest.partition("=")
        port = int(port_s)
        proc = subprocess.Popen(cmd.replace("{port}", port_s), shell=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            wait_port(port)
            wrk(port, args.path, 2, args.connections)  # warm-up: pools, caches
            before = tree_cpu(proc.pid)
            started = time.monotonic()
            n = wrk(port, args.path, args.duration, args.connections)
            elapsed = time.monotonic() - started
            used = tree_cpu(proc.pid) - before
            load = os.getloadavg()[0]
            print(f"| {name} | {n} | {used / max(n, 1) * 1e6:.0f} | {n / elapsed:.0f} | "
                  f"{load:.1f} |", flush=True)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


if __name__ == "__main__":
    main()
