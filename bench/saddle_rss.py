"""Worker RSS of Saddle and Flask under skitai and of Flask under gunicorn, after load.

    python bench/saddle_rss.py [seconds of wrk per path]

Starts each server (2 workers), loads /hello and /items with wrk, then sums the RSS
(and USS: the pages the worker does not share) of its worker processes with psutil.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = os.environ.get("PYTHON", sys.executable)
SKITAI = [PY, os.path.join(HERE, "saddle_apps.py")]
SERVERS = {
    "saddle-t4": (SKITAI, {"SKITAI_THREADS": "4", "BENCH_FRAMEWORK": "saddle"}),
    "saddle-t0": (SKITAI, {"SKITAI_THREADS": "0", "BENCH_FRAMEWORK": "saddle"}),
    "flask-skitai-t4": (SKITAI, {"SKITAI_THREADS": "4", "BENCH_FRAMEWORK": "flask"}),
    # The engine alone (the shared plain WSGI hello world): what any app's worker starts from.
    "wsgi-hello-skitai-t4": ([PY, os.path.join(HERE, "skitai_hello.py")], {"SKITAI_THREADS": "4"}),
    "flask-gunicorn-2x4": ([PY, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4",
                            "-b", "127.0.0.1:{port}", "--chdir", HERE, "flask_bench:app"], {}),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"port {port} never answered")


def measure(name: str, seconds: int) -> tuple[float, float]:
    cmd, extra = SERVERS[name]
    port = free_port()
    env = dict(os.environ, SKITAI_PORT=str(port), SKITAI_WORKERS="2", PYTHONPATH=ROOT,
               SKITAI_VARPATH=f"/tmp/saddle-bench-{port}", **extra)
    proc = subprocess.Popen([c.replace("{port}", str(port)) for c in cmd], cwd=HERE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_port(port)
        time.sleep(1)
        for path in (("/",) if name.startswith("wsgi-") else ("/hello", "/items")):
            subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}", f"http://127.0.0.1:{port}{path}"],
                           check=True, stdout=subprocess.DEVNULL)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "master" not in " ".join(p.cmdline())]
        rss = sum(p.memory_info().rss for p in workers) / 2**20
        uss = sum(p.memory_full_info().uss for p in workers) / 2**20
        return rss, uss
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print("| server | workers RSS MiB | workers USS MiB |")
    print("|---|---|---|")
    for name in SERVERS:
        rss, uss = measure(name, seconds)
        print(f"| {name} | {rss:.1f} | {uss:.1f} |", flush=True)


if __name__ == "__main__":
    main()
