"""Task spooler vs RQ on the local Redis: enqueue rate from a view, execution rate.

    .venv/bin/pip install rq           # not a dependency of skitai
    .venv/bin/python bench/spooler_vs_rq.py [--tasks 4000] [--clients 8] [--batch 20] [--rounds 3]

One skitai app (workers=2, threads=4) has two views: ``/spool?n=K`` queues K no-op tasks
with ``was.spool(benchtasks.noop, i)`` and ``/rq?n=K`` queues K with RQ's
``Queue.enqueue(benchtasks.noop, i)`` (one Redis connection per worker thread).  Enqueue:
``--clients`` HTTP clients ask for batches of ``--batch`` until ``--tasks`` are queued,
for each in turn, with nothing consuming.  Execution: the backlog then runs with two
runners each: the spooler (``enable_spooler(count=2)``, started with ``skitai daemon
spooler start`` over the control socket) and two ``rq worker --burst`` (the default
forking worker, and ``--worker-class rq.SimpleWorker`` too), timed until the queue is
empty.  Medians over ``--rounds``, the two alternating in each round.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skitai.master import control  # noqa: E402

TASKS = "def noop(i):\n    return i\n"
APP = '''
import os
import skitai
from urllib.parse import parse_qs

import redis
import rq
from skitai import was

import benchtasks

_local = __import__("threading").local()


def app(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(q["n"][0])
    if environ["PATH_INFO"] == "/rq":
        queue = getattr(_local, "queue", None)
        if queue is None:
            queue = _local.queue = rq.Queue("bench", connection=redis.Redis())
        for i in range(n):
            queue.enqueue(benchtasks.noop, i)
    else:
        for i in range(n):
            was.spool(benchtasks.noop, i)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


skitai.mount("/", app)
skitai.enable_spooler(count=2, poll=0.02)
skitai.run(port=0, workers=2, threads=4, varpath=os.environ["BENCH_VAR"])
'''


def enqueue(port: int, path: str, total: int, clients: int, batch: int) -> float:
    left = [total // batch]
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            conn.request("GET", f"{path}?n={batch}")
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (total // batch * batch) / (time.perf_counter() - t0)


def spool_count(var: Path, sub: str) -> int:
    folder = var / "spooler" / sub
    return len(os.listdir(folder)) if folder.exists() else 0


def run_spooler(var: Path, total: int) -> float:
    sock = str(var / "control.sock")
    before = spool_count(var, "sent")
    t0 = time.perf_counter()
    control.call(sock, {"op": "daemon", "name": "spooler", "action": "start"})
    while spool_count(var, "sent") - before < total:
        time.sleep(0.01)
    rate = total / (time.perf_counter() - t0)
    control.call(sock, {"op": "daemon", "name": "spooler", "action": "stop"})
    return rate


def run_rq(workdir: Path, env: dict[str, str], worker_class: str | None) -> float:
    import redis
    import rq

    queue = rq.Queue("bench", connection=redis.Redis())
    total = queue.count
    argv = [sys.executable, "-m", "rq.cli", "worker", "--burst", "-q", "bench"]
    if worker_class:
        argv += ["--worker-class", worker_class]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(2)]
    for p in procs:
        p.wait()
    assert queue.count == 0
    return total / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=os.path.expanduser("~"),
                    help="where the app and its spool live (default: the home folder, where "
                         "the default spool is; this machine's /tmp creates files ~20x slower)")
    a = ap.parse_args()
    import redis
    import rq

    r = redis.Redis()
    tmp = Path(tempfile.mkdtemp(prefix="spoolbench-", dir=a.dir))
    proj, var = tmp / "proj", tmp / "var"
    proj.mkdir()
    var.mkdir()
    (proj / "benchtasks.py").write_text(TASKS)
    (proj / "app.py").write_text(APP)
    env = dict(os.environ, BENCH_VAR=str(var), PYTHONPATH=f"{proj}{os.pathsep}{ROOT}")
    server = subprocess.Popen([sys.executable, "app.py"], cwd=proj, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    port = 0
    try:
        assert server.stderr is not None
        for line in server.stderr:
            if "serving on http://" in line:
                port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
                break
        sock = str(var / "control.sock")
        time.sleep(1.5)
        control.call(sock, {"op": "daemon", "name": "spooler", "action": "stop"})
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        results: dict[str, list[float]] = {k: [] for k in (
            "spool enqueue", "rq enqueue", "spool exec", "rq exec (fork)", "rq exec (simple)")}
        for _ in range(a.rounds):
            rq.Queue("bench", connection=r).empty()
            results["spool enqueue"].append(enqueue(port, "/spool", a.tasks, a.clients, a.batch))
            results["rq enqueue"].append(enqueue(port, "/rq", a.tasks, a.clients, a.batch))
            results["spool exec"].append(run_spooler(var, a.tasks // a.batch * a.batch))
            results["rq exec (fork)"].append(run_rq(proj, env, None))
            enqueue(port, "/rq", a.tasks, a.clients, a.batch)
            results["rq exec (simple)"].append(run_rq(proj, env, "rq.SimpleWorker"))
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"tasks={a.tasks} clients={a.clients} batch={a.batch} rounds={a.rounds} "
              f"(2 web workers, threads=4; 2 runners each)")
        print(f"{'measure':<22}{'tasks/s (median)':>18}")
        for k, v in med.items():
            print(f"{k:<22}{v:>18.0f}")
        print(f"enqueue ratio spooler/rq: {med['spool enqueue'] / med['rq enqueue']:.2f}x")
        print(f"exec ratio spooler/rq (fork worker): {med['spool exec'] / med['rq exec (fork)']:.2f}x")
        print(f"exec ratio spooler/rq (SimpleWorker): {med['spool exec'] / med['rq exec (simple)']:.2f}x")
    finally:
        server.terminate()
        server.wait(30)
        rq.Queue("bench", connection=r).empty()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
