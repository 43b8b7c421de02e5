"""start | stop | restart | status for a standalone daemon (smtpda, cron) by pid file.

The master has a richer path (its control socket); this is the small common one the
standalone daemons share.  Exit codes follow LSB init scripts: ``status`` 0 running,
3 stopped; ``start`` 1 when already running.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable

from skitai.ipc import daemon, pidfile

COMMANDS = ("start", "stop", "restart", "status", "foreground")

# run(ready_fd) runs the service until it stops and returns its exit code; it must call
# daemon.report_ready(ready_fd) once it is serving (ready_fd is None in the foreground).
Runner = Callable[[int | None], int]


def control(
    command: str,
    *,
    name: str,
    pid_path: str,
    run: Runner,
    workdir: str,
    stdio_path: str = os.devnull,
    stop_timeout: float = 30.0,
) -> int:
    if command not in COMMANDS:
        print(f"{name}: unknown command {command!r} (use {'|'.join(COMMANDS)})", file=sys.stderr)
        return 2
    if command == "status":
        return status(name, pid_path)
    if command == "stop":
        return stop(name, pid_path, stop_timeout)
    if command == "restart":
        stop(name, pid_path, stop_timeout)
        command = "start"
    pid = pidfile.running_pid(pid_path)
    if pid is not None:
        print(f"{name}: already running (pid {pid})", file=sys.stderr)
        return 1
    if command == "foreground":
        return _run_locked(pid_path, run, None)
    ready = daemon.daemonize(workdir=workdir, stdio_path=stdio_path)
    try:
        code = _run_locked(pid_path, run, ready)
    except BaseException as exc:  # noqa: BLE001 - the daemon must report, then die
        daemon.report_ready(ready, f"{name}: {exc}")
        os._exit(1)
    os._exit(code)


def _run_locked(pid_path: str, run: Runner, ready: int | None) -> int:
    lock = pidfile.PidFile(pid_path)
    try:
        lock.acquire()
    except pidfile.AlreadyRunning as exc:
        daemon.report_ready(ready, str(exc))
        return 1
    try:
        return run(ready)
    finally:
        lock.release()


def status_line(name: str, state: str, pid: int | None = None, detail: str = "") -> str:
    """The one status line of every daemon, standalone or under a master:
    ``NAME: state (pid N)``, and what its last exit was when it is not running."""
    text = f"{name}: {state.lower()}"
    if pid:
        text += f" (pid {pid})"
    if detail:
        text += f", last {detail}"
    return text


def status(name: str, pid_path: str) -> int:
    pid = pidfile.running_pid(pid_path)
    if pid is None:
        print(status_line(name, "stopped"))
        return 3
    print(status_line(name, "running", pid))
    return 0


def stop(name: str, pid_path: str, timeout: float) -> int:
    pid = pidfile.running_pid(pid_path)
    if pid is None:
        print(f"{name}: not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfile.running_pid(pid_path) is None:
            print(f"{name}: stopped (pid {pid})")
            return 0
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    print(f"{name}: killed (pid {pid}) after {timeout:.0f}s")
    return 0
