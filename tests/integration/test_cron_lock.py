"""Issue 10 item 14: ``skitai.cron()``/``[:crontab]`` under a master and a standalone
``skitai cron -f`` on the same file never run one job twice at once (a per-job flock)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests import conftest
from tests.fixtures.master import wait_for
from tests.fixtures.web import WebApp

ROOT = Path(__file__).resolve().parent.parent.parent


def _intervals(log: Path) -> list[tuple[float, float]]:
    starts: dict[str, float] = {}
    out = []
    for line in log.read_text().splitlines():
        what, pid, when = line.split()
        if what == "start":
            starts[pid] = float(when)
        elif pid in starts:
            out.append((starts.pop(pid), float(when)))
    return sorted(out)


def test_master_and_standalone_cron_never_overlap_one_job(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    job = (f'echo start $$ $(date +%s.%N) >> {log}; sleep 1.5; '
           f'echo end $$ $(date +%s.%N) >> {log}')
    conf = tmp_path / "skitai.conf"
    conf.write_text(f"[:crontab]\n* * * * * */1 {job}\n")
    w = WebApp(tmp_path, run_args="workers=1", args=("-f", str(conf)))
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    alone = subprocess.Popen([sys.executable, "-m", "skitai", "cron", "-f", str(conf)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    conftest._spawned.append(alone.pid)
    try:
        wait_for(lambda: w.rows("cron"), timeout=20)
        wait_for(lambda: log.exists() and len(_intervals(log)) >= 4, timeout=40)
        time.sleep(1.0)
    finally:
        alone.terminate()
        _, err = alone.communicate(timeout=20)
        w.stop()
    runs = _intervals(log)
    for (_s1, e1), (s2, _e2) in zip(runs, runs[1:], strict=False):
        assert s2 >= e1, f"two runs of one job overlapped: {runs}"
    # Both crons tried: one of them found the job running in the other.
    assert "running in another cron process" in err + w.output
