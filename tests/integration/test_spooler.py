"""The task spooler under a real master (issue 16): ``was.spool(func, *args)`` from a
view queues into the file spool, ``skitai.enable_spooler(count=2)`` runs the tasks; 1,000
tasks survive random SIGKILLs of the runners (at least once: none lost), failures are
retried with backoff, a timeout interrupts a task, and ``status`` shows the queue."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

from tests.fixtures.master import wait_for
from tests.fixtures.web import WebApp

TASKS = '''
import os
import time

import skitai

VAR = os.environ["TEST_VAR"]


def record(i):
    time.sleep(0.002)
    with open(os.path.join(VAR, "done.log"), "a") as f:
        f.write("%d\\n" % i)
    return i


@skitai.task(retries=2)
def flaky(name):
    marker = os.path.join(VAR, name + ".tries")
    with open(marker, "a") as f:
        f.write("x")
    if os.path.getsize(marker) < 2:
        raise RuntimeError("first try fails")
    with open(os.path.join(VAR, "done.log"), "a") as f:
        f.write(name + "\\n")


def broken():
    raise ValueError("always")


def slow():
    time.sleep(30)
'''

WEBAPP = '''
import json
from urllib.parse import parse_qs

from skitai import was

import tasks


def app(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    kind = q.get("kind", ["record"])[0]
    if kind == "record":
        ids = [was.spool(tasks.record, i) for i in range(int(q["start"][0]), int(q["stop"][0]))]
    elif kind == "flaky":
        ids = [tasks.flaky("flaky")]  # @skitai.task: calling it queues it
    else:
        ids = [was.spool(getattr(tasks, kind))]
    body = json.dumps({"queued": len(ids)}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''


def _done(w: WebApp) -> list[str]:
    path = w.var / "done.log"
    return path.read_text().split() if path.exists() else []


def _start(tmp_path: Path, setup: str) -> WebApp:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "tasks.py").write_text(TASKS)
    return WebApp(tmp_path, run_args="workers=2, threads=4", setup=setup, webapp=WEBAPP)


def test_a_thousand_tasks_survive_random_sigkills_of_the_spooler(tmp_path: Path) -> None:
    w = _start(tmp_path, "skitai.enable_spooler(count=2, backoff=0.1)\n")
    try:
        runners = wait_for(lambda: len(w.rows("spooler")) == 2 and w.rows("spooler"), timeout=20)
        assert {r["slot"] for r in runners} == {0, 1}
        rng = random.Random(16)
        killed: set[int] = set()  # pids, so a runner not yet reaped is never counted twice

        def fresh() -> list[dict[str, Any]]:
            return [r for r in w.rows("spooler") if r["pid"] not in killed]

        def kill_one(runners: list[dict[str, Any]]) -> None:
            pid = rng.choice(runners)["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)

        for start in range(0, 1000, 100):
            status, body = w.get(f"/?start={start}&stop={start + 100}")
            assert status == 200 and body == {"queued": 100}
            if start % 200 == 0:  # a SIGKILL at a random moment, mid-queue
                time.sleep(rng.uniform(0.0, 0.3))
                # A runner may still be in its restart backoff from the last kill: wait
                # for a live one rather than skip, so the run always has its five kills.
                kill_one(wait_for(fresh, timeout=30))
        while len(set(_done(w))) < 1000 and len(killed) < 8:
            time.sleep(rng.uniform(0.1, 0.4))
            runners = fresh()
            if runners:
                kill_one(runners)
        wait_for(lambda: len(set(_done(w))) >= 1000, timeout=120)
        kills = len(killed)
        assert kills >= 5
        assert set(_done(w)) == {str(i) for i in range(1000)}  # none lost (some maybe twice)
        spool = w.var / "spooler"
        # A task a killed runner had run but not yet filed comes back when that runner
        # restarts (at least once): wait for every message to be filed, not just taken.
        wait_for(lambda: not list((spool / "new").iterdir())
                 and len(list((spool / "sent").iterdir())) >= 1000, timeout=60)
        assert len(list((spool / "sent").iterdir())) == 1000
        assert not list((spool / "failed").iterdir())
        rows = wait_for(lambda: [r for r in w.rows("spooler") if r["info"]], timeout=20)
        assert "queue" in rows[0]["info"]
        # Every kill is one restart, counted when the master starts the runner again
        # (after its backoff): the last kill's may still be on its way.

        def restarts() -> int:
            return sum(r["restarts"] for r in w.status()["processes"] if r["role"] == "spooler")

        wait_for(lambda: restarts() >= kills, timeout=30)
        assert restarts() == kills
    finally:
        w.stop()


def test_retries_with_backoff_give_up_and_timeout(tmp_path: Path) -> None:
    w = _start(tmp_path, "skitai.enable_spooler(count=1, retries=1, backoff=0.2, timeout=1)\n")
    try:
        wait_for(lambda: w.rows("spooler"), timeout=20)
        for kind in ("flaky", "broken", "slow"):
            assert w.get(f"/?kind={kind}")[0] == 200
        wait_for(lambda: "flaky" in _done(w), timeout=30)  # ran again after its failure
        assert (w.var / "flaky.tries").read_text() == "xx"
        failed = w.var / "spooler" / "failed"
        wait_for(lambda: len(list(failed.iterdir())) == 2, timeout=30)
        reasons = " ".join(p.read_text() for p in failed.iterdir())
        assert "ValueError: always" in reasons and "timed out after 1s" in reasons
        out = w.output
        assert "tasks:flaky failed (attempt 1 of 3" in out  # @skitai.task(retries=2)
        assert "tasks:broken failed 2 time(s), giving up: ValueError: always" in out
        assert "tasks:flaky: ok in" in out
    finally:
        w.stop()
