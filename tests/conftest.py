"""Shared fixtures: real server processes on port 0, and a guard against leaked ones.

``serve(app_source)`` writes an app.py into a temp dir, starts ``python app.py`` with
``SKITAI_PORT=0``, waits for the "serving on http://HOST:PORT/" line, and stops the
process by its pid at the end of the test.  At the end of the session, every process a
test started must be gone, or the run fails.

Which processes are "ours": the session puts a token in ``SKITAI_TEST_SESSION`` before
any test runs, so every process the suite starts (masters, their workers and daemons,
double-forked ``-d`` servers) inherits it.  A skitai server the developer runs, or
another checkout's test run, carries another token or none and is never judged.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

SERVING = re.compile(r"serving on https?://(\[[^\]]+\]|[^:/]+):(\d+)/")
_spawned: list[int] = []
SESSION_ENV = "SKITAI_TEST_SESSION"
# Set before any test starts a process; children inherit it through os.environ.
SESSION_TOKEN = os.environ.setdefault(SESSION_ENV, uuid.uuid4().hex)


def require_services() -> bool:
    return os.environ.get("SKITAI_REQUIRE_SERVICES") == "1"


class ServerProcess:
    def __init__(self, proc: subprocess.Popen[str], workdir: Path) -> None:
        self.proc = proc
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = 0
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            m = SERVING.search(line)
            if m and not self._ready.is_set():
                self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not self._ready.wait(timeout) or not self.port:
            self.stop()
            raise AssertionError("server did not start:\n" + "".join(self.lines))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=10)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_tree(self.proc.pid)
                self.proc.wait(5)
        _kill_tree(self.proc.pid)  # children left by a crashed master, if any
        self._reader.join(5)
        return self.proc.returncode


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def start_app(workdir: Path, source: str, *args: str, env: dict[str, str] | None = None,
              filename: str = "app.py", wait: bool = True) -> ServerProcess:
    app = workdir / filename
    app.write_text(textwrap.dedent(source))
    full_env = dict(os.environ)
    full_env.setdefault("SKITAI_PORT", "0")
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent),
                                              full_env.get("PYTHONPATH", "")])
    full_env.update(env or {})
    proc = subprocess.Popen([sys.executable, str(app), *args], cwd=workdir, env=full_env,
                            stdout=subprocess.DEVNULL if "-v" not in args else None,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _spawned.append(proc.pid)
    server = ServerProcess(proc, workdir)
    if wait:
        server.wait_ready()
    return server


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def _serve(source: str, *args: str, **kw: object) -> ServerProcess:
        server = start_app(tmp_path, source, *args, **kw)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.stop()


def leaked_processes(token: str, spawned: list[int]) -> list[str]:
    """Live processes this test session started: its token in their environment, or a
    pid a test recorded.  Never another session's or a developer's server."""
    alive = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        pid = proc.info["pid"]
        if pid == me:
            continue
        try:
            ours = pid in spawned or proc.environ().get(SESSION_ENV) == token
            title = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:  # gone, a zombie, or not ours to read
            continue
        if ours:
            alive.append(f"{pid}: {title}")
    return alive


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any process a test started (or its children) survived."""
    time.sleep(0.2)
    alive = leaked_processes(SESSION_TOKEN, _spawned)
    if alive:
        for pid in _spawned:
            _kill_tree(pid)
        print("\nERROR: processes left behind by the tests:\n  " + "\n  ".join(alive),
              file=sys.stderr)
        session.exitstatus = 1
