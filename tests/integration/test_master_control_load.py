"""The control socket under churn and a CPU burner (issue 10 item 15).

The ECONNRESET a ``status`` got "under load, right after a worker's death" was the master
dying: it reaped a worker whose channel still held messages (``was.setlu`` broadcasts),
relayed them to every live web worker, the dead one included, and that failed send
closed the channel under the loop still reading it (an AttributeError out of the
master's loop; its cleanup then reset the control connections not yet answered).  The
same failed send in ``_on_channel`` did it too.  ``control.call`` retries nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from skitai.master import control
from tests import conftest
from tests.fixtures.master import MasterProc, spec, wait_for

# A CPU burner that ends by itself when the test process is gone (killed before its
# finally ran: a timeout's SIGTERM) or after 5 minutes, so none is ever left spinning.
BURN = ("import os, time\nparent, end = os.getppid(), time.monotonic() + 300\n"
        "while os.getppid() == parent and time.monotonic() < end:\n    pass\n")


def test_status_is_always_answered_while_workers_die_and_reload(tmp_path: Path) -> None:
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    conftest._spawned.extend(b.pid for b in burners)
    master = MasterProc(tmp_path, {"workers": 4, "lu_keys": ["k"]}, [spec(count=4)])
    path = str(master.var / "control.sock")
    answers = [0]
    errors: list[str] = []
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                reply = control.call(path, {"op": "status"}, timeout=30)
                assert reply["ok"], reply
                answers[0] += 1
            except control.ControlError as exc:
                errors.append(str(exc))

    clients = [threading.Thread(target=ask, daemon=True) for _ in range(4)]
    try:
        for c in clients:
            c.start()
        kills = reloads = 0
        end = time.monotonic() + 20
        while time.monotonic() < end:
            rows = control.call(path, {"op": "status"}, timeout=30)["processes"]
            old = [r for r in rows if r["pid"] and r["state"] == "RUNNING" and r["uptime"] > 5.5]
            if old:
                os.kill(old[0]["pid"], signal.SIGKILL)
                kills += 1
            elif control.call(path, {"op": "status"}, timeout=30)["master"]["state"] == "running":
                master.signal(signal.SIGHUP)  # a new generation: four forks, four drains
                reloads += 1
            time.sleep(0.2)
    finally:
        done.set()
        for c in clients:
            c.join(60)
        for b in burners:
            b.kill()
            b.wait()
        master.stop()
    assert kills + reloads > 5 and answers[0] > 100, (kills, reloads, answers)
    assert errors == [], errors[:5]


def test_a_worker_dying_with_broadcasts_in_its_channel_never_stops_the_master(
        tmp_path: Path) -> None:
    """The reset's cause: the master reaped a worker whose channel still held broadcasts
    (``was.setlu`` sends one); relaying them reached the dead worker itself, that send
    failed and closed the channel under the drain loop, and the master died of it,
    resetting the ``status`` connection it had not answered yet."""
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
    conftest._spawned.extend(b.pid for b in burners)
    master = MasterProc(tmp_path, {"workers": 2}, [spec(count=2)])
    try:
        for _ in range(6):  # under MAX_CRASHES (8) per slot: never FATAL
            with contextlib.suppress(OSError, http.client.HTTPException):
                master.get("/last-words?n=400", timeout=20)
            rows = wait_for(lambda: len(master.workers()) == 2 and master.workers(), timeout=60)
            assert all(r["pid"] for r in rows)
        assert master.proc.poll() is None, master.output
        assert "Traceback" not in master.output, master.output
        assert master.control({"op": "status"})["ok"]
    finally:
        for b in burners:
            b.kill()
            b.wait()
        master.stop()
