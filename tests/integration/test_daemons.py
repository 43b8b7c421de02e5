"""Pluggable service daemons under a real master (issue 16): a Python entry and an
external command, started in ``after=`` order and stopped in reverse, restarted after
kill -9, FATAL after repeated failed starts (and ``status`` exits non-zero), a
``[daemon:NAME]`` section, an installed package's ``skitai.daemons`` entry point, and
``skitai daemon NAME stop|start|status`` against the running master."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.fixtures.master import wait_for
from tests.fixtures.web import WebApp

ROOT = Path(__file__).resolve().parent.parent.parent

TICKD = '''
import os
import time


def main(ctx):
    log = os.path.join(os.environ["TEST_VAR"], ctx.name + ".events")
    with open(log, "a") as f:
        f.write("start %d %s %s\\n" % (os.getpid(), ctx.config.get("greeting"), ctx.supervised))
    while not ctx.stopping():
        ctx.heartbeat()
        ctx.status({"ticks": int(time.time())})
        ctx.wait(0.2)
    with open(log, "a") as f:
        f.write("stop %d %s\\n" % (os.getpid(), ctx.stop_reason))
    return 0
'''


def _skitai(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "skitai", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=60)


def _events(w: WebApp, name: str) -> list[list[str]]:
    path = w.var / f"{name}.events"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _line_index(output: str, *parts: str) -> int:
    for i, line in enumerate(output.splitlines()):
        if all(p in line for p in parts):
            return i
    raise AssertionError(f"no line with {parts} in:\n{output}")


def test_python_and_command_daemons_order_restart_and_reverse_stop(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "tickd.py").write_text(TICKD)
    setup = textwrap.dedent('''
        skitai.enable_daemon("ticker", "tickd:main", greeting="hi", stop_timeout=5)
        skitai.enable_daemon("sleeper", ["sleep", "3600"], after=["ticker"], stop_timeout=5)
    ''')
    w = WebApp(tmp_path, run_args="workers=1", setup=setup)
    try:
        ticker = wait_for(lambda: w.rows("ticker"), timeout=20)[0]
        sleeper = wait_for(lambda: w.rows("sleeper"), timeout=20)[0]
        # Start order: the sleeper is spawned only once the ticker runs.
        out = w.output
        assert _line_index(out, "ticker (pid", "is ready") < _line_index(out, "spawned sleeper")
        assert _events(w, "ticker")[0][2:] == ["hi", "True"]
        assert psutil.Process(ticker["pid"]).cmdline()[0].startswith("skitai(proj/app): ticker")
        program = wait_for(lambda: [c.pid for c in psutil.Process(sleeper["pid"]).children()])[0]
        assert psutil.Process(program).cmdline() == ["sleep", "3600"]

        # `skitai status APP --json`: every daemon by role, with its state.
        done = _skitai("status", str(w.dir / "app.py"), "--json", env=w.env, cwd=w.dir)
        assert done.returncode == 0, done.stderr
        rows = {r["role"]: r for r in json.loads(done.stdout)["processes"]}
        assert rows["ticker"]["state"] == rows["sleeper"]["state"] == "RUNNING"
        assert rows["worker"]["kind"] == "web" and rows["ticker"]["kind"] == "daemon"
        assert "ticks" in rows["ticker"]["info"]  # ctx.status reaches `status`

        # kill -9 of the Python daemon and of the command: both come back.
        os.kill(ticker["pid"], signal.SIGKILL)
        os.kill(program, signal.SIGKILL)
        for role, old in (("ticker", ticker["pid"]), ("sleeper", sleeper["pid"])):
            new = wait_for(lambda r=role, o=old: [x for x in w.rows(r) if x["pid"] != o],
                           timeout=20)[0]
            assert new["restarts"] == 1 and new["last_exit"] == "killed by SIGKILL", new
        assert wait_for(lambda: len([e for e in _events(w, "ticker") if e[0] == "start"]) == 2)

        # Stop: reverse order, each within its stop timeout.
        w.signal(signal.SIGTERM)
        assert w.wait_exit(60) == 0
        w.server._reader.join(10)
        out = w.output
        assert _line_index(out, "sleeper (pid", "stopped") < _line_index(out, "ticker (pid", "stopped")
        assert "SIGKILL" not in out.split("got SIGTERM", 1)[1]
        assert _events(w, "ticker")[-1][0] == "stop"
    finally:
        w.stop()


def test_repeated_boot_failures_make_a_daemon_fatal(tmp_path: Path) -> None:
    setup = 'skitai.enable_daemon("broken", "nosuch_module_here:main", startretries=2)\n'
    w = WebApp(tmp_path, run_args="workers=1", setup=setup)
    try:
        wait_for(lambda: w.rows("broken", "FATAL"), timeout=30)
        spawned = [x for x in w.output.splitlines() if "spawned broken (pid" in x]
        assert len(spawned) == 3, w.output  # the first start and two retries
        assert "could not start 3 times in a row" in w.output
        # Backoff grows between the failed starts.
        assert "restarting in 0.5s (retry 1 of 2)" in w.output
        assert "restarting in 1.0s (retry 2 of 2)" in w.output
        assert w.get("/")[0] == 200  # the web side is untouched
        done = w.cli("status", "--json")
        assert done.returncode == 1, done.stdout + done.stderr
        assert {r["role"]: r["state"] for r in json.loads(done.stdout)["processes"]}["broken"] == "FATAL"
        assert "FATAL: broken" in done.stderr
    finally:
        w.stop()


def test_config_section_and_installed_entry_point(tmp_path: Path) -> None:
    # A package installed the way pip installs one: its module and a dist-info folder
    # with an entry point in the skitai.daemons group, in a folder on sys.path (app.py's).
    site = tmp_path / "proj"
    (site / "tickpkg").mkdir(parents=True)
    (site / "tickpkg" / "__init__.py").write_text(TICKD)
    info = site / "tickpkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tickpkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[skitai.daemons]\ntickpkg-exporter = tickpkg:main\n")
    conf = tmp_path / "skitai.conf"
    conf.write_text("[daemon:fromconf]\nentry = tickpkg:main\ngreeting = conf\nrestart = on-failure\n")
    w = WebApp(tmp_path, run_args="workers=1", setup='skitai.enable_daemon("tickpkg-exporter")\n',
               args=("-f", str(conf)))
    try:
        wait_for(lambda: w.rows("fromconf") and w.rows("tickpkg-exporter"), timeout=20)
        assert _events(w, "fromconf")[0][2] == "conf"
        assert _events(w, "tickpkg-exporter")[0][2] == "None"

        # skitai daemon NAME stop | status | start, against the running master.
        done = w.cli("daemon", "fromconf", "stop", "-f", str(conf))
        assert done.returncode == 0 and "fromconf: stop" in done.stdout, done.stdout + done.stderr
        wait_for(lambda: w.rows("fromconf", "STOPPED"), timeout=20)
        done = w.cli("daemon", "fromconf", "status", "-f", str(conf))
        assert done.returncode == 3 and done.stdout.startswith("fromconf: stopped"), done.stdout
        assert _events(w, "fromconf")[-1][0] == "stop"
        done = w.cli("daemon", "fromconf", "start", "-f", str(conf))
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(lambda: w.rows("fromconf"), timeout=20)
        # The same through the skitai command, naming the app file.
        done = _skitai("daemon", "fromconf", "status", str(w.dir / "app.py"), "-f", str(conf),
                       env=w.env, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.startswith("fromconf: running (pid "), done.stdout
        assert w.cli("daemon", "nosuch", "stop").returncode == 1
    finally:
        w.stop()


PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "skitai-test-pipd"
version = "1.0"

[project.entry-points."skitai.daemons"]
pipd-exporter = "pipd:main"

[tool.setuptools]
py-modules = ["pipd"]
"""


def test_entry_point_of_a_pip_installed_package(tmp_path: Path) -> None:
    # A real ``pip install`` of a tiny package built from source in the test's folder
    # (setuptools, already in the venv: no network, no build isolation), into a target
    # folder put on the app's PYTHONPATH: the shared venv is never written.
    import importlib.metadata

    pytest.importorskip("setuptools", reason="the package is built with the venv's setuptools")
    src, site = tmp_path / "src", tmp_path / "site"
    src.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "pipd.py").write_text(TICKD)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                           "--no-build-isolation", "--no-cache-dir", "--disable-pip-version-check",
                           "--quiet", "--target", str(site), str(src)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    info = next(site.glob("skitai_test_pipd-1.0.dist-info"))
    assert "pipd-exporter = pipd:main" in (info / "entry_points.txt").read_text()
    with_site = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])
    w = WebApp(tmp_path, run_args="workers=1", env={"PYTHONPATH": with_site},
               setup='skitai.enable_daemon("pipd-exporter", greeting="pipped")\n')
    try:
        row = wait_for(lambda: w.rows("pipd-exporter"), timeout=20)[0]
        assert _events(w, "pipd-exporter")[0][:3] == ["start", str(row["pid"]), "pipped"]
        assert psutil.Process(row["pid"]).cmdline()[0].startswith("skitai(proj/app): pipd-exporter")
    finally:
        w.stop()
    assert _events(w, "pipd-exporter")[-1][0] == "stop"
    # Installed into the folder only: this interpreter (the shared venv) does not see it.
    names = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert "skitai-test-pipd" not in names


def test_standalone_daemon_from_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "tickd.py").write_text(TICKD)
    var = tmp_path / "var"
    conf = tmp_path / "skitai.conf"
    conf.write_text(f"[common]\nvar-path = {var}\n\n[daemon:solo]\nentry = tickd:main\n"
                    f"greeting = alone\n")
    env = {"TEST_VAR": str(var), "HOME": str(tmp_path),
           "PYTHONPATH": f"{tmp_path / 'lib'}{os.pathsep}{ROOT}"}
    var.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        full = dict(os.environ, **env)
        return subprocess.run([sys.executable, "-m", "skitai", "daemon", "solo", *args,
                               "-f", str(conf)], cwd=tmp_path, env=full, capture_output=True,
                              text=True, timeout=60)

    started = run("start")
    try:
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("solo: started (pid "), started.stdout
        status = run("status")
        assert status.returncode == 0 and status.stdout.startswith("solo: running (pid ")
        assert wait_for(lambda: (var / "solo.events").exists())
        assert (var / "solo.events").read_text().split()[2:] == ["alone", "False"]
        assert run("start").returncode == 1  # already running
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0 and "solo: stopped" in stopped.stdout
    assert run("status").returncode == 3
    assert (var / "solo.events").read_text().splitlines()[-1].startswith("stop ")


HOG = '''
import time


def main(ctx):
    hoard = bytearray(int(ctx.config["mb"]) << 20)
    hoard[::4096] = b"x" * len(hoard[::4096])
    while not ctx.stopping():
        ctx.wait(0.2)
    return 0
'''


def test_metrics_exporter_and_a_daemon_rss_ceiling(tmp_path: Path) -> None:
    import urllib.request

    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "hogd.py").write_text(HOG)
    port = _free_port()
    setup = textwrap.dedent(f'''
        skitai.addlu("users")
        skitai.enable_spooler(count=1)
        skitai.enable_daemon("hog", "hogd:main", mb=96, max_rss="48M")
        skitai.enable_metrics({port})
    ''')
    w = WebApp(tmp_path, run_args="workers=2", setup=setup)
    try:
        wait_for(lambda: w.rows("metrics"), timeout=20)
        # The RSS ceiling recycles the daemon, as it does a web worker.
        wait_for(lambda: "over the 48 MiB ceiling" in w.output, timeout=30)
        wait_for(lambda: any(r["restarts"] for r in w.rows("hog", None)), timeout=30)

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                return r.read().decode()

        text = wait_for(lambda: (t := scrape()) and 'skitai_daemon_info{key="queue"' in t and t,
                        timeout=20)
        assert 'skitai_process_state{role="worker",slot="1",state="RUNNING"} 1.0' in text
        assert 'skitai_process_requests_total{pid=' in text
        assert 'skitai_daemon_info{key="queue",role="spooler",slot=""} 0.0' in text
        assert 'skitai_lu_age_seconds{key="users"}' in text
        assert 'skitai_process_restarts_total{role="hog",slot=""}' in text
        # Bound to the loopback only.
        conns = [c for c in psutil.Process(w.rows("metrics")[0]["pid"]).net_connections()
                 if c.status == psutil.CONN_LISTEN]
        assert [c.laddr.ip for c in conns] == ["127.0.0.1"]
    finally:
        w.stop()


SPIN = """
import os


def main(ctx):
    with open(os.path.join(os.environ["TEST_VAR"], ctx.name + ".events"), "a") as f:
        f.write("start %d\\n" % os.getpid())
    n = 0
    while not ctx.stopping():
        if ctx.config.get("spin"):
            n += sum(range(1000))  # busy: all the CPU the scheduler gives it
        else:
            ctx.wait(0.5)
    return 0
"""


def test_a_daemon_cpu_ceiling(tmp_path: Path) -> None:
    # A spinning daemon over its CPU ceiling is restarted; an idle one under the same
    # ceiling is not.  The ceiling is low (10% over 2 samples of 1 s) so a spinner still
    # crosses it on a loaded 2-core machine (it would need a run queue of ~20 not to),
    # while the idle daemon (one wake-up per 0.5 s, forked: no import burst) stays far
    # under it.  Only the order of events is checked, never how fast they happen.
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "spind.py").write_text(SPIN)
    setup = textwrap.dedent("""
        for name, spin in (("spinner", 1), ("idler", 0)):
            skitai.enable_daemon(name, "spind:main", spin=spin, max_cpu=10, cpu_samples=2,
                                 cpu_interval=1.0, stop_timeout=10)
    """)
    w = WebApp(tmp_path, run_args="workers=1", setup=setup)
    try:
        first = wait_for(lambda: w.rows("spinner"), timeout=20)[0]
        idler = wait_for(lambda: w.rows("idler"), timeout=20)[0]
        # Twice: the restarted spinner is watched as its predecessor was.
        for restarts in (1, 2):
            row = wait_for(lambda n=restarts: [r for r in w.rows("spinner")
                                               if r["restarts"] >= n], timeout=90)[0]
            assert row["pid"] != first["pid"]
        starts = [e for e in _events(w, "spinner") if e[0] == "start"]
        assert len(starts) >= 3 and len({e[1] for e in starts}) == len(starts)
        assert re.search(r"restarting spinner \(pid \d+\): CPU \d+% for 2 samples of 1s "
                         r"\(critical point 10%\)", w.output), w.output
        assert "restarting idler" not in w.output
        now = w.rows("idler")
        assert [(r["pid"], r["restarts"]) for r in now] == [(idler["pid"], 0)]
        assert len(_events(w, "idler")) == 1
    finally:
        w.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_output_goes_to_rotated_logs_and_usr1_reopens(tmp_path: Path) -> None:
    setup = textwrap.dedent('''
        skitai.enable_daemon("chatty", ["sh", "-c", "while true; do echo out-line; echo err-line >&2; sleep 0.02; done"],
                             env={"LC_ALL": "C"}, log_max_bytes=4000, log_backups=2)
        skitai.enable_daemon("steady", ["sh", "-c", "while true; do echo tick; sleep 0.05; done"])
    ''')
    logs = tmp_path / "var" / "logs"
    w = WebApp(tmp_path, run_args='workers=1, logpath=os.environ["TEST_VAR"] + "/logs"',
               setup=setup)
    try:
        wait_for(lambda: (logs / "chatty.log.2").exists(), timeout=30)
        assert not (logs / "chatty.log.3").exists()  # log_backups=2
        text = (logs / "chatty.log.1").read_text()
        assert "out-line" in text and "err-line" in text
        # logrotate's way: move the file, then USR1 to the master (this log is far from
        # its size limit: only the reopen makes a new one).
        steady = logs / "steady.log"
        wait_for(lambda: steady.exists() and "tick" in steady.read_text(), timeout=10)
        os.rename(steady, logs / "steady.log.old")
        time.sleep(0.5)
        assert not steady.exists()
        w.signal(signal.SIGUSR1)
        wait_for(lambda: steady.exists() and "tick" in steady.read_text(), timeout=20)
    finally:
        w.stop()


SILENT = '''
import time


def main(ctx):
    ctx.heartbeat()
    while not ctx.stopping():
        time.sleep(0.1)  # never beats again
    return 0
'''


def test_a_silent_daemon_with_a_heartbeat_watch_is_aborted(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "silentd.py").write_text(SILENT)
    w = WebApp(tmp_path, run_args="workers=1",
               setup='skitai.enable_daemon("silent", "silentd:main", heartbeat=2)\n')
    try:
        first = wait_for(lambda: w.rows("silent"), timeout=20)[0]
        wait_for(lambda: [r for r in w.rows("silent") if r["pid"] != first["pid"]], timeout=30)
        assert re.search(r"silent \(pid \d+\) is silent for [\d.]+s \(heartbeat 2s\): SIGABRT",
                         w.output), w.output
        rows = [r for r in w.status()["processes"] if r["role"] == "silent"]
        assert rows[0]["last_exit"] == "killed by SIGABRT"
    finally:
        w.stop()


def test_restart_policies(tmp_path: Path) -> None:
    setup = textwrap.dedent('''
        skitai.enable_daemon("clean", ["sh", "-c", "sleep 1.5; exit 0"], restart="on-failure", startsecs=1)
        skitai.enable_daemon("failing", ["sh", "-c", "sleep 1.5; exit 7"], restart="on-failure", startsecs=1)
        skitai.enable_daemon("once", ["sh", "-c", "sleep 1.5; exit 7"], restart="never", startsecs=1)
        skitai.enable_daemon("always", ["sh", "-c", "sleep 1.5; exit 0"], startsecs=1)
    ''')
    w = WebApp(tmp_path, run_args="workers=1", setup=setup)
    try:
        def row(role: str) -> dict[str, object]:
            return next(r for r in w.status()["processes"] if r["role"] == role)

        wait_for(lambda: row("failing")["restarts"] >= 1 and row("always")["restarts"] >= 1,
                 timeout=30)
        wait_for(lambda: row("clean")["state"] == "EXITED" and row("once")["state"] == "EXITED",
                 timeout=30)
        time.sleep(3)  # nothing brings these two back
        assert row("clean")["restarts"] == 0 and row("clean")["last_exit"] == "exit 0"
        assert row("once")["restarts"] == 0 and row("once")["last_exit"] == "exit 7"
        assert "restart = never: not restarted" in w.output
        # An operator's start brings a finished daemon back.
        assert w.control({"op": "daemon", "name": "once", "action": "start"})["ok"]
        wait_for(lambda: row("once")["state"] in ("STARTING", "RUNNING"), timeout=20)
    finally:
        w.stop()
