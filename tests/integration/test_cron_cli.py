"""The cron daemon as a real process: standalone CLI round trip, config errors, and the
``run(config, ctx)`` entry the master calls."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from skitai.ipc import pidfile

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=str(ROOT))


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def conf(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "skitai.conf"
    path.write_text(textwrap.dedent(f"""\
        [common]
        log-path = {tmp_path / "log"}

        [cron]
        verbose = false
        var-path = {tmp_path / "var"}
        process-display-name = skitai-cron-test
        kill-grace = 1

        [:crontab]
        MARK=tick
        * * * * * */1 echo "$MARK-$$"
        @reboot sleep 300 & echo $! > {tmp_path / "bg.pid"}; wait
        """))
    yield path
    pid = pidfile.running_pid(str(tmp_path / "var" / "cron.pid"))
    for p in [pid] + _pids(tmp_path / "bg.pid"):
        if p:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _pids(path: Path) -> list[int]:
    try:
        return [int(w) for w in path.read_text().split()]
    except (OSError, ValueError):
        return []


@pytest.mark.parametrize("entry", [["-m", "skitai.bin.cron"], ["-m", "skitai.cron"]])
def test_standalone_round_trip(conf: Path, tmp_path: Path, entry: list[str]) -> None:
    log = tmp_path / "log" / "cron.log"
    started = cli(*entry, "-f", str(conf), "-d")
    assert started.returncode == 0, started.stderr
    status = cli(*entry, "-f", str(conf), "status")
    assert status.returncode == 0 and "running" in status.stdout
    pid = pidfile.running_pid(str(tmp_path / "var" / "cron.pid"))
    assert pid is not None
    assert psutil.Process(pid).cmdline()[0].startswith("skitai-cron-test")
    assert wait_for(lambda: log.exists() and "[echo] out: tick-" in log.read_text())
    assert wait_for(lambda: bool(_pids(tmp_path / "bg.pid")))
    (background,) = _pids(tmp_path / "bg.pid")
    again = cli(*entry, "-f", str(conf), "start")
    assert again.returncode == 1 and "already running" in again.stderr
    stopped = cli(*entry, "-f", str(conf), "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert cli(*entry, "-f", str(conf), "status").returncode == 3
    assert gone(pid)
    assert gone(background)            # the running @reboot job's group died with cron
    text = log.read_text()
    assert "[sleep] cron is stopping" in text and "cron stopped" in text
    assert "[echo] exited 0" in text


def test_restart(conf: Path, tmp_path: Path) -> None:
    pid_path = str(tmp_path / "var" / "cron.pid")
    assert cli("-m", "skitai.cron", "-f", str(conf), "start").returncode == 0
    first = pidfile.running_pid(pid_path)
    assert cli("-m", "skitai.cron", "-f", str(conf), "restart").returncode == 0
    second = pidfile.running_pid(pid_path)
    assert first and second and first != second and gone(first)
    assert cli("-m", "skitai.cron", "-f", str(conf), "stop").returncode == 0
    assert second is not None and gone(second)


@pytest.mark.parametrize(("section", "body", "what"), [
    ("[cron]", "bogus = 1", "unknown key 'bogus'"),
    ("[cron]", "timeout = soon", "timeout"),
    ("[cron]", "timezone = Mars/Base", "unknown time zone"),
    ("[:crontab]", "* * * echo short", "m h dom mon dow"),
    ("[:crontab]", "0 25 * * * echo bad-hour", "invalid cron spec"),
])
def test_bad_key_or_line_is_named_with_file_and_line(tmp_path: Path, section: str, body: str,
                                                     what: str) -> None:
    path = tmp_path / "bad.conf"
    path.write_text(f"[common]\nlog-path =\n{section}\n{body}\n")
    done = cli("-m", "skitai.bin.cron", "-f", str(path), "--var-path", str(tmp_path), "start")
    assert done.returncode == 2
    assert f"{path}:4" in done.stderr and what in done.stderr
    assert not (tmp_path / "cron.pid").exists()


MASTER_CHILD = """
import os, sys
from skitai.config.model import ServerConfig
from skitai.cron import schedule, main
from skitai.ipc.context import ChildContext
import socket
sock = socket.socket(fileno=int(sys.argv[1]))
jobs = (schedule.parse_job("* * * * * */1", "echo under-master", "app.py:3"),
        schedule.parse_job("@reboot", "sleep 300 & echo $$ $! > " + sys.argv[2] + "; wait",
                           "app.py:4", name="hold"))
config = ServerConfig(name="demo", logpath=sys.argv[3], crons=jobs, swd=sys.argv[3])
sys.exit(main.run(config, ChildContext(role="cron", channel=sock, title="skitai(demo): cron")))
"""


@pytest.mark.parametrize("how", ["sigterm", "master-gone"])
def test_run_under_a_master(tmp_path: Path, how: str) -> None:
    parent, child = socket.socketpair()
    pids = tmp_path / "pids"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", MASTER_CHILD, str(child.fileno()), str(pids), str(tmp_path)],
        pass_fds=[child.fileno()], env=env, stderr=subprocess.PIPE, text=True)
    child.close()
    try:
        log = tmp_path / "cron.log"
        assert wait_for(lambda: log.exists() and "[echo] out: under-master" in log.read_text())
        assert wait_for(lambda: len(_pids(pids)) == 2)
        assert psutil.Process(proc.pid).cmdline()[0].startswith("skitai(demo): cron")
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            parent.close()
        assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
        assert all(gone(p) for p in _pids(pids))
        if how == "master-gone":
            assert "lost the master" in log.read_text()
    finally:
        parent.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in _pids(pids):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_run_under_a_master_reports_a_bad_zone_as_boot_error(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from skitai.config.daemons import CronJob\n"
        "from skitai.config.model import ServerConfig\n"
        "from skitai.cron import main\n"
        "from skitai.ipc.context import ChildContext\n"
        "job = CronJob(spec='* * * * *', command='true', timezone='Nowhere/Zone', source='app.py:9')\n"
        "sys.exit(main.run(ServerConfig(crons=(job,)), ChildContext(role='cron')))\n")
    done = cli("-c", code)
    assert done.returncode == 3 and "app.py:9" in done.stderr
