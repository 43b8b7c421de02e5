"""``python app.py start|-d|status|restart|-r|stop`` and ``skitai ...`` with real web
workers, round-tripping through the daemon, the pid file lock and the control socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from skitai.ipc import pidfile

ROOT = Path(__file__).resolve().parent.parent.parent

APP = """
import os
import skitai

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"pid %d" % os.getpid()]

if __name__ == "__main__":
    skitai.mount("/", app)
    skitai.run(workers=2, varpath=os.environ["TEST_VAR"])
"""


class App:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "proj"
        self.dir.mkdir()
        self.path = self.dir / "app.py"
        self.path.write_text(textwrap.dedent(APP))
        self.var = tmp / "var"
        self.env = dict(os.environ, HOME=str(tmp), SKITAI_PORT="0", TEST_VAR=str(self.var),
                        PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.name = "proj/app"

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(self.path), *args], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def skitai(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skitai", *args], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def master_pid(self) -> int | None:
        return pidfile.running_pid(str(self.var / "skitai.pid"))

    def cleanup(self) -> None:
        """Kill whatever a failed test left: the daemon is not our child."""
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                if " ".join(p.info["cmdline"] or []).startswith(f"skitai({self.name}):") and \
                        p.cwd() == str(self.dir):
                    p.kill()
            except psutil.Error:
                continue


def alive(pid: int) -> bool:
    """Exited means gone or a zombie: the daemon's parent is init, which may reap late."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def app(tmp_path: Path):
    a = App(tmp_path)
    yield a
    if a.master_pid():
        a.run("stop")
    a.cleanup()


def test_start_status_json_restart_stop_round_trip(app: App) -> None:
    started = app.run("start")
    assert started.returncode == 0, started.stderr
    assert "serving on http://127.0.0.1:" in started.stdout
    first = app.master_pid()
    assert first and psutil.Process(first).cmdline()[0].startswith("skitai(proj/app): master")

    status = app.run("status")
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert lines[0].startswith(f"skitai(proj/app): master pid {first} running")
    rows = [line.split() for line in lines if line.startswith("worker")]
    assert [r[1] for r in rows] == ["0", "1"] and all(r[3] == "RUNNING" for r in rows)

    data = json.loads(app.run("status", "--json").stdout)
    assert data["master"]["pid"] == first
    assert [p["slot"] for p in data["processes"]] == [0, 1]
    assert set(data["processes"][0]) >= {"role", "slot", "pid", "state", "uptime", "cpu", "rss",
                                         "requests", "restarts", "last_exit"}

    again = app.run("-d")
    assert again.returncode == 1 and "already running" in again.stderr

    restarted = app.run("restart")
    assert restarted.returncode == 0, restarted.stderr
    second = app.master_pid()
    assert second and second != first and not alive(first)

    short = app.run("-r")  # the original mapped -r to "retart"
    assert short.returncode == 0, short.stderr
    third = app.master_pid()
    assert third and third != second

    stopped = app.run("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert app.master_pid() is None and not alive(third)
    after = app.run("status")
    assert after.returncode == 3 and "stopped" in after.stdout
    assert json.loads(app.run("status", "--json").stdout)["state"] == "stopped"
    assert app.run("stop").returncode == 0  # stopping a stopped server is not an error


def test_stale_pid_file_is_replaced(app: App) -> None:
    app.var.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (app.var / "skitai.pid").write_text(f"{dead.pid}\n")  # unlocked: a killed server's file
    assert app.run("status").returncode == 3
    started = app.run("start")
    assert started.returncode == 0, started.stderr
    pid = app.master_pid()
    assert pid and pid != dead.pid
    assert (app.var / "skitai.pid").read_text().strip() == str(pid)


def test_the_skitai_command_drives_an_app_file(app: App) -> None:
    assert app.skitai("status", str(app.path)).returncode == 3
    started = app.skitai("start", str(app.path))
    assert started.returncode == 0, started.stderr
    assert app.skitai("status", "--json", "app.py").returncode == 0
    scaled = app.skitai("scale", "3")  # ./app.py by default
    assert scaled.returncode == 0, scaled.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        data = json.loads(app.skitai("status", "--json").stdout)
        if [p["state"] for p in data["processes"]] == ["RUNNING"] * 3:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(data)
    reloaded = app.skitai("reload")
    assert reloaded.returncode == 0 and "generation 1 serves" in reloaded.stdout
    assert app.skitai("stop").returncode == 0
    assert app.master_pid() is None


def test_boot_error_in_daemon_mode_is_reported_by_start(app: App) -> None:
    app.path.write_text(textwrap.dedent(APP).replace('skitai.mount("/", app)',
                                                     'skitai.mount("/", "broken.py")'))
    (app.dir / "broken.py").write_text("import no_such_module\napp = None\n")
    started = app.run("start", timeout=60)
    assert started.returncode == 1
    assert "could not start (exit 4 (APP_LOAD_ERROR))" in started.stderr
    assert app.master_pid() is None


def test_conf_file_common_section_and_unknown_key(app: App, tmp_path: Path) -> None:
    conf = tmp_path / "skitai.conf"
    conf.write_text("[common]\nworkers = 1\nbogus-key = 1\n")
    bad = app.run("status", "-f", str(conf))
    assert bad.returncode == 2
    assert f"{conf}:3: unknown key 'bogus-key' in [common]" in bad.stderr
    conf.write_text("[common]\nlog-path = {}\n".format(tmp_path / "logs"))
    started = app.run("start", "-f", str(conf))
    assert started.returncode == 0, started.stderr
    assert (tmp_path / "logs" / "server.log").exists()
    assert "serving" in (tmp_path / "logs" / "server.log").read_text()
    assert app.run("stop", "-f", str(conf)).returncode == 0


def test_foreground_ctrl_c_stops_everything(app: App) -> None:
    proc = subprocess.Popen([sys.executable, str(app.path)], cwd=app.dir, env=app.env,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving on" in line:
                break
        children = psutil.Process(proc.pid).children()
        assert len(children) == 2
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        assert proc.wait(20) == 0
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_skitai_smtpda_and_cron_pass_through_to_the_daemons(app: App, tmp_path: Path) -> None:
    conf = tmp_path / "daemons.conf"
    conf.write_text(f"[common]\nvar-path = {tmp_path / 'dvar'}\n\n[:crontab]\n@daily true\n")
    conf.chmod(0o600)
    stopped = app.skitai("smtpda", "-f", str(conf), "status")
    assert stopped.returncode == 3 and "stopped" in stopped.stdout
    assert app.skitai("cron", "-f", str(conf), "status").returncode == 3
    started = app.skitai("cron", "-f", str(conf), "start")
    assert started.returncode == 0, started.stderr
    try:
        running = app.skitai("cron", "-f", str(conf), "status")
        assert running.returncode == 0 and "running" in running.stdout
    finally:
        assert app.skitai("cron", "-f", str(conf), "stop").returncode == 0
    assert app.skitai("cron", "-f", str(conf), "status").returncode == 3
