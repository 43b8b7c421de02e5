"""The control socket under churn and a CPU burner (issue 10 item 15): ``status`` calls
from several clients while workers die, are replaced and reloaded (forks at every turn,
connections accepted at the same moments) all get their answer, with no retry in the
client (``control.call`` never re-sends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from skitai.master import control
from tests import conftest
from tests.fixtures.master import MasterProc, spec

BURN = "import time\nwhile True:\n    pass\n"


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
