"""smtpda and cron as peer children of a real master (issue 4, "under the master").

``skitai.enable_smtpda()`` + ``skitai.cron()`` in app.py and ``[:crontab]`` in the config
file make the master run ``skitai(<app>): smtpda`` and ``skitai(<app>): cron`` next to the
web workers.  A WSGI endpoint's ``was.email(...).send()`` spools into the directory the
smtpda child delivers from, to a real aiosmtpd started here; cron jobs on a seconds-level
spec write marker files.  Both daemons are restarted after ``kill -9``, shown by
``status``, and never aborted for lacking a heartbeat (they do not beat).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.fixtures.master import wait_for
from tests.fixtures.web import WebApp
from tests.integration import smtpd_helper


@pytest.fixture
def smtp():
    ctl, rec = smtpd_helper.start()
    yield ctl, rec
    ctl.stop()


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _subjects(rec: smtpd_helper.Recorder) -> list[str]:
    with rec.lock:
        return [str(m["Subject"]) for m in rec.messages]


def test_smtpda_and_cron_run_under_the_master(tmp_path: Path, smtp) -> None:
    ctl, rec = smtp
    app_marker = tmp_path / "from-app.txt"
    conf_marker = tmp_path / "from-conf.txt"
    conf = tmp_path / "skitai.conf"
    conf.write_text(f"[smtpda]\nmax-retry = 3\n\n[:crontab]\n* * * * * */1 echo conf >> {conf_marker}\n")
    conf.chmod(0o600)
    setup = (f'skitai.enable_smtpda("127.0.0.1:{ctl.port}")\n'
             f'skitai.cron("* * * * * */1", "echo app >> {app_marker}")\n'
             f"skitai.set_worker_timeout(2)\n")
    w = WebApp(tmp_path, run_args="workers=2", setup=setup, args=("-f", str(conf)))
    try:
        smtpda = wait_for(lambda: w.rows("smtpda"), timeout=15)[0]
        cron = wait_for(lambda: w.rows("cron"), timeout=15)[0]
        assert " ".join(psutil.Process(smtpda["pid"]).cmdline()).strip() == "skitai(proj/app): smtpda"
        assert " ".join(psutil.Process(cron["pid"]).cmdline()).strip() == "skitai(proj/app): cron"
        assert smtpda["slot"] is None and cron["slot"] is None

        # A mail sent from a WSGI request in a web worker reaches the SMTP server.
        status, body = w.get("/mail?subject=first")
        assert status == 200 and body["id"].startswith("<")
        wait_for(lambda: "first" in _subjects(rec), timeout=30)
        assert (w.var / "smtpda").is_dir()  # the one spool: <varpath>/smtpda

        # Jobs from skitai.cron() and from [:crontab] both run, every second.
        wait_for(lambda: _lines(app_marker) >= 2 and _lines(conf_marker) >= 2, timeout=20)

        # The daemons do not beat: worker_timeout (2 s) never aborts them.
        time.sleep(3)
        rows = {r["role"]: r for r in w.status()["processes"] if r["role"] in ("smtpda", "cron")}
        assert rows["smtpda"]["pid"] == smtpda["pid"] and rows["smtpda"]["restarts"] == 0
        assert rows["cron"]["pid"] == cron["pid"] and rows["cron"]["restarts"] == 0
        assert "SIGABRT" not in w.output

        # kill -9: each daemon is replaced, and works again.
        os.kill(smtpda["pid"], signal.SIGKILL)
        os.kill(cron["pid"], signal.SIGKILL)
        new_smtpda = wait_for(lambda: [r for r in w.rows("smtpda") if r["pid"] != smtpda["pid"]],
                              timeout=15)[0]
        new_cron = wait_for(lambda: [r for r in w.rows("cron") if r["pid"] != cron["pid"]],
                            timeout=15)[0]
        for row in (new_smtpda, new_cron):
            assert row["restarts"] == 1 and row["last_exit"] == "killed by SIGKILL"
        assert w.get("/mail?subject=second")[0] == 200
        wait_for(lambda: "second" in _subjects(rec), timeout=30)
        before = _lines(app_marker)
        wait_for(lambda: _lines(app_marker) >= before + 2, timeout=20)
        assert len(w.workers()) == 2  # no extra web worker (the original forked one)

        # `status` lists them, one line each.
        text = w.cli("status", "-f", str(conf))
        assert text.returncode == 0, text.stderr
        # (the process table: the lines up to the first blank one; the thread pools' after)
        table = text.stdout.split("\n\n")[0].splitlines()
        roles = [line.split()[0] for line in table[1:]]
        assert roles.count("smtpda") == 1 and roles.count("cron") == 1 and roles.count("worker") == 2
        smtpda_line = next(x for x in text.stdout.splitlines() if x.startswith("smtpda"))
        assert str(new_smtpda["pid"]) in smtpda_line and "killed by SIGKILL" in smtpda_line

        pids = [new_smtpda["pid"], new_cron["pid"], *(r["pid"] for r in w.workers())]
        w.signal(signal.SIGTERM)
        assert w.wait_exit(30) == 0
        for pid in pids:
            wait_for(lambda p=pid: not _alive(p), timeout=10)
    finally:
        w.stop()
    assert _subjects(rec).count("first") == 1


@pytest.mark.parametrize(("text", "mode", "expect"), [
    ("[:crontab]\n61 * * * * echo nope\n", 0o600, ":2"),
    ("[smtpda]\nmax-retyr = 3\n", 0o600, ":2: unknown key 'max-retyr' in [smtpda]"),
    ("[smtpda]\nmax-retry = many\n", 0o600, ":2: bad value for 'max-retry'"),
    ("[smtpda]\npassword = secret\n", 0o644, "readable by group/others"),
], ids=["crontab-line", "smtpda-key", "smtpda-value", "password-mode"])
def test_a_daemon_config_error_stops_the_start_with_file_and_line(tmp_path: Path, text: str,
                                                                    mode: int, expect: str) -> None:
    conf = tmp_path / "skitai.conf"
    conf.write_text(text)
    conf.chmod(mode)
    w = WebApp(tmp_path, run_args="workers=1", setup='skitai.enable_smtpda("127.0.0.1:9")',
               args=("-f", str(conf)), wait=False)
    try:
        assert w.wait_exit(30) == 2
        w.server._reader.join(10)
        assert str(conf) in w.output and expect in w.output, w.output
        assert "spawned" not in w.output  # refused before any child started
    finally:
        w.stop()


def test_no_child_outlives_a_killed_master(tmp_path: Path) -> None:
    setup = ('skitai.enable_smtpda("127.0.0.1:9")\n'
             'skitai.cron("@daily", "true")\n')
    w = WebApp(tmp_path, run_args="workers=2", setup=setup)
    try:
        wait_for(lambda: w.rows("smtpda") and w.rows("cron"), timeout=15)
        children = [p.pid for p in psutil.Process(w.pid).children()]
        assert len(children) == 4
        os.kill(w.pid, signal.SIGKILL)
        for pid in children:
            wait_for(lambda p=pid: not _alive(p), timeout=15)
    finally:
        w.stop()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
