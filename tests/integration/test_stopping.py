"""How a server stops and fails, as its user sees it (issue 10 items 10, 11, 13)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

APP = """
import skitai

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

skitai.mount("/", app)
skitai.run(workers=1)
"""


def test_a_bind_failure_logs_the_exit_status_it_exits_with(serve, tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        server = serve(APP, env={"SKITAI_PORT": str(port)}, wait=False)
        code = server.proc.wait(60)
        server.stop()
    finally:
        holder.close()
    assert code == 3, server.output
    assert "master stopped (exit status 3)" in server.output, server.output
    assert "exit status 0" not in server.output


SLOW = """
import os
import time
import skitai

MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "in-flight")

def app(environ, start_response):
    if environ["PATH_INFO"] == "/sleep":
        open(MARK, "w").close()
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]

skitai.set_graceful_timeout(120)
skitai.mount("/", app)
skitai.run(workers=1, logpath=os.path.join(os.path.dirname(os.path.abspath(__file__)), "logs"))
"""


class Slow(threading.Thread):
    """One request in flight; ``result`` is the body, or the exception it ended with."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.result: object = None
        self.start()

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=150) as r:
                self.result = r.read()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            self.result = exc


def _in_flight(tmp_path: Path, url: str) -> Slow:
    slow = Slow(url)
    deadline = time.monotonic() + 30
    while not (tmp_path / "in-flight").exists():
        assert time.monotonic() < deadline, "the request never reached the app"
        time.sleep(0.05)
    return slow


def _request_lines(tmp_path: Path, path: str) -> list[str]:
    log = tmp_path / "logs" / "request.log"
    return [x for x in log.read_text().splitlines() if f" {path}" in x] if log.exists() else []


def test_first_ctrl_c_lets_the_in_flight_request_finish(serve, tmp_path: Path) -> None:
    server = serve(SLOW)
    slow = _in_flight(tmp_path, server.url("/sleep?3"))
    os.killpg(server.proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    slow.join(60)
    assert slow.result == b"done"
    assert server.proc.wait(60) == 0
    server.stop()
    assert "stopping gracefully" in server.output and "Ctrl-C again" in server.output
    fields = _request_lines(tmp_path, "/sleep?3")[0].split(" ")
    assert fields[8] == "200"


def test_second_ctrl_c_stops_at_once_and_the_log_does_not_blame_the_client(
        serve, tmp_path: Path) -> None:
    server = serve(SLOW)
    slow = _in_flight(tmp_path, server.url("/sleep?100"))
    os.killpg(server.proc.pid, signal.SIGINT)
    time.sleep(1.0)
    assert server.proc.poll() is None  # the first one drains (graceful timeout 120 s)
    t0 = time.monotonic()
    os.killpg(server.proc.pid, signal.SIGINT)
    server.proc.wait(90)
    took = time.monotonic() - t0
    server.stop()
    assert took < 60, took  # far below the 120 s graceful timeout (a generous bound)
    assert "second Ctrl-C" in server.output
    slow.join(30)
    assert isinstance(slow.result, Exception)
    lines = _request_lines(tmp_path, "/sleep?100")
    assert lines and lines[0].split(" ")[8] == "444", lines


def test_quit_stops_at_once_and_the_log_does_not_blame_the_client(serve, tmp_path: Path) -> None:
    server = serve(SLOW)
    slow = _in_flight(tmp_path, server.url("/sleep?100"))
    t0 = time.monotonic()
    server.signal(signal.SIGQUIT)
    server.proc.wait(90)
    took = time.monotonic() - t0
    server.stop()
    assert took < 60, took
    slow.join(30)
    lines = _request_lines(tmp_path, "/sleep?100")
    assert lines and lines[0].split(" ")[8] == "444", lines


def _daemon(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(textwrap.dedent(source))
    env = {**os.environ, "SKITAI_PORT": "0", "SKITAI_VARPATH": str(tmp_path / "var"),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent.parent)}
    return subprocess.run([sys.executable, str(tmp_path / "app.py"), *args], cwd=tmp_path,
                          env=env, text=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("logpath", [False, True])
def test_d_with_an_app_that_fails_to_import_shows_the_traceback_tail_and_the_log(
        tmp_path: Path, logpath: bool) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module_for_skitai\napp = None\n")
    run_args = f"logpath={str(tmp_path / 'logs')!r}" if logpath else ""
    source = f"""
        import skitai
        skitai.mount("/", "broken.py")
        skitai.run(workers=1, {run_args})
    """
    started = _daemon(tmp_path, source, "-d")
    try:
        assert started.returncode == 1, started
        err = started.stderr
        assert "log above" not in err
        assert "ModuleNotFoundError: No module named 'no_such_module_for_skitai'" in err
        assert 'broken.py", line 1' in err
        log = tmp_path / "logs" / "server.log" if logpath else tmp_path / "var" / "stderr.log"
        assert str(log) in err
        assert "no_such_module_for_skitai" in log.read_text()
    finally:
        assert _daemon(tmp_path, source, "status").returncode == 3
