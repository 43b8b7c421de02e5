"""100 MiB uploads: skitai's buffered and streaming paths vs gunicorn gthread (issue 11).

    python bench/upload.py [rounds] [MiB]

Starts skitai (bench/upload_app.py, one worker, threads=4: ``/`` buffers the body before
the app runs, ``/stream`` has ``pref.stream_request_body``) and gunicorn (``-k gthread
--threads 4``, one worker) on the same app, then POSTs the body (Content-Length, sent
from memory) to each in turn, ROUNDS times, interleaved.  Prints the median seconds per
upload, MiB/s, the ratio to gunicorn, and the worker's RSS growth (its largest RSS while
uploading, polled every 20 ms, minus its RSS before the first upload).
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}")


def worker_of(pid: int) -> psutil.Process:
    """The process serving: the single worker child (or the process itself)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = [p for p in psutil.Process(pid).children(recursive=True)
                if "worker" in " ".join(p.cmdline()) or "gunicorn" in " ".join(p.cmdline())]
        if kids:
            return kids[-1]
        time.sleep(0.2)
    return psutil.Process(pid)


def upload(port: int, path: str, body: bytes) -> float:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: b\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (path.encode(), len(body)))
        sock.sendall(body)
        got = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    elapsed = time.monotonic() - started
    if not got.startswith(b"HTTP/1.1 200") or not got.endswith(b"%d" % len(body)):
        raise SystemExit(f"bad answer from {port}{path}: {got[:200]!r}")
    return elapsed


class Peak(threading.Thread):
    def __init__(self, proc: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak, self.done = proc, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    body = os.urandom(1 << 20) * mib
    py = os.environ.get("PYTHON", sys.executable)
    var = tempfile.mkdtemp()
    sk_port, gu_port = free_port(), free_port()
    env = dict(os.environ, SKITAI_PORT=str(sk_port), SKITAI_VARPATH=var, SKITAI_WORKERS="1",
               SKITAI_THREADS="4", PYTHONPATH=ROOT)
    procs = [
        subprocess.Popen([py, os.path.join(HERE, "upload_app.py")], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True),
        subprocess.Popen([py, "-m", "gunicorn", "-k", "gthread", "--threads", "4", "-w", "1",
                          "-b", f"127.0.0.1:{gu_port}", "--chdir", HERE, "upload_app:app"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True),
    ]
    try:
        wait_up(sk_port)
        wait_up(gu_port)
        targets = [("skitai buffered", sk_port, "/"), ("skitai streaming", sk_port, "/stream"),
                   ("gunicorn gthread", gu_port, "/")]
        workers = {sk_port: worker_of(procs[0].pid), gu_port: worker_of(procs[1].pid)}
        base = {port: w.memory_info().rss for port, w in workers.items()}
        times: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        peaks: dict[str, int] = {name: 0 for name, _, _ in targets}
        for r in range(rounds):
            for name, port, path in targets[r % 3:] + targets[:r % 3]:
                peak = Peak(workers[port])
                peak.start()
                times[name].append(upload(port, path, body))
                peak.done.set()
                peak.join()
                peaks[name] = max(peaks[name], peak.peak)
                print(f"round {r + 1} {name}: {times[name][-1]:.3f} s", file=sys.stderr)
        gu = statistics.median(times["gunicorn gthread"])
        print(f"\n### {mib} MiB POST, one worker, threads=4, {rounds} rounds (median)\n")
        print("| server | s/upload | MiB/s | x gunicorn (speed) | worker RSS growth MiB | raw s |")
        print("|---|---:|---:|---:|---:|---|")
        for name, port, _ in targets:
            t = statistics.median(times[name])
            growth = (peaks[name] - base[port]) / (1 << 20)
            print(f"| {name} | {t:.3f} | {mib / t:.0f} | {gu / t:.2f} | {growth:.1f} | "
                  + ", ".join(f"{x:.3f}" for x in times[name]) + " |")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            p.wait(20)


if __name__ == "__main__":
    main()
