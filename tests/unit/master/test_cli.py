"""Pure parts of the master's command line: argument parsing, paths, the status table,
command dispatch, and sd_notify over a real datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from skitai import cli
from skitai.config.model import ServerConfig
from skitai.errors import ConfigError
from skitai.ipc.lu import ThreadCounts
from skitai.master import commands, paths, report
from skitai.master.systemd import Notifier


@pytest.mark.parametrize("argv,command", [
    ([], "foreground"), (["start"], "start"), (["-d"], "start"), (["stop"], "stop"),
    (["-s"], "stop"), (["restart"], "restart"), (["-r"], "restart"), (["status"], "status"),
    (["reload"], "reload"), (["-v"], "foreground"),
])
def test_app_commands_and_their_short_forms(argv: list[str], command: str) -> None:
    assert cli.parse_app_args(argv).command == command


def test_app_options() -> None:
    args = cli.parse_app_args(["status", "--json", "-f", "/etc/x.conf", "-v"])
    assert (args.command, args.json, args.conf, args.verbose) == ("status", True, "/etc/x.conf", True)
    assert cli.parse_app_args(["scale", "3"]).workers == 3
    assert cli.parse_app_args(["--config=/a"]).conf == "/a"


@pytest.mark.parametrize("argv,message", [
    (["retart"], "unknown argument 'retart'"),  # the original's typo for -r
    (["start", "stop"], "one command at a time"),
    (["scale"], "scale needs a number"),
    (["scale", "0"], "scale needs a number"),
    (["-f"], "needs a file name"),
])
def test_bad_arguments_say_what_is_wrong(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cli.parse_app_args(argv)


def test_var_dir_is_private_per_app_and_overridable(tmp_path: Path) -> None:
    a = paths.for_config(ServerConfig(name="proj/app", script="/srv/a/app.py"))
    b = paths.for_config(ServerConfig(name="proj/app", script="/srv/b/app.py"))
    assert a.var != b.var  # two apps, two dirs (the original shared <dir>/.pid)
    assert a.var.startswith(os.path.expanduser("~/.local/state/skitai/proj-app-"))
    assert a.pidfile == os.path.join(a.var, "skitai.pid")
    assert a.control == os.path.join(a.var, "control.sock")
    c = paths.for_config(ServerConfig(varpath=str(tmp_path / "v"), logpath=str(tmp_path / "log")))
    assert c.var == str(tmp_path / "v")
    assert c.stdio == str(tmp_path / "log" / "stderr.log")
    with pytest.raises(ConfigError, match="longer than a unix socket path"):
        paths.for_config(ServerConfig(varpath="/" + "x" * 120))


def test_status_table_has_one_line_per_process() -> None:
    data = {
        "master": {"pid": 10, "name": "p/app", "state": "running", "uptime": 3725, "generation": 2,
                   "workers": 2, "listeners": ["http://127.0.0.1:5000/"], "last_reload": "ok"},
        "processes": [
            {"role": "worker", "slot": 0, "pid": 11, "state": "RUNNING", "generation": 2,
             "uptime": 61, "cpu": 1.25, "rss": 30 << 20, "requests": 120, "restarts": 1,
             "last_exit": "killed by SIGKILL"},
            {"role": "smtpda", "slot": None, "pid": None, "state": "BACKOFF", "generation": 0,
             "uptime": 0, "cpu": 0.0, "rss": 0, "requests": 0, "restarts": 3,
             "last_exit": "exit 1"},
        ],
    }
    lines = report.format_status(data).splitlines()
    assert lines[0].startswith("skitai(p/app): master pid 10 running, up 1h02m, generation 2")
    assert lines[1] == "last reload: ok"
    assert lines[2].split() == ["ROLE", "SLOT", "PID", "STATE", "GEN", "UPTIME", "CPU", "RSS",
                                "REQUESTS", "RESTARTS", "LAST", "EXIT"]
    assert lines[3].split() == ["worker", "0", "11", "RUNNING", "2", "1m01s", "1.2s", "30.0M",
                                "120", "1", "killed", "by", "SIGKILL"]
    assert lines[4].split() == ["smtpda", "-", "-", "BACKOFF", "0", "0s", "0.0s", "-", "0", "3",
                                "exit", "1"]


def test_status_shows_each_web_workers_thread_pool() -> None:
    def row(role: str, slot: int | None, pid: int | None, kind: str, **threads: int) -> dict[str, Any]:
        return {"role": role, "slot": slot, "pid": pid, "state": "RUNNING", "generation": 1,
                "uptime": 5, "cpu": 0.1, "rss": 1 << 20, "requests": 3, "restarts": 0,
                "last_exit": None, "kind": kind,
                **{k: threads.get(k, 0) for k in ThreadCounts._fields}}

    data = {"master": {"pid": 10, "name": "p/app", "state": "running", "uptime": 5,
                       "generation": 1, "workers": 2, "listeners": []},
            "processes": [
                row("worker", 0, 11, "web", threads=4, max_threads=16, threads_running=1,
                    threads_waiting=12, threads_idle=0, requests_queued=7),
                row("worker", 1, 12, "web", threads=4, max_threads=16, threads_idle=4),
                row("worker", 2, None, "web", threads=4, max_threads=16),  # (not running)
                row("smtpda", None, 13, "daemon")]}
    lines = report.format_status(data).splitlines()
    start = lines.index("") + 1
    assert lines[start].split() == ["WORKER", "PID", "THREADS", "MAX", "THREADS", "RUNNING",
                                    "WAITING", "IDLE", "QUEUED"]
    assert lines[start + 1].split() == ["#0", "11", "4", "16", "1", "12", "0", "7"]
    assert lines[start + 2].split() == ["#1", "12", "4", "16", "0", "0", "4", "0"]
    assert len(lines) == start + 3  # no row for a daemon or a worker not running
    # threads=0 (apps inline on the loop): no pool, no table.
    for r in data["processes"]:
        r["threads"] = 0
    assert "MAX THREADS" not in report.format_status(data)


class FakeMaster:
    """Records what the commands asked for (the real arbiter is tested in integration)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def status(self) -> dict[str, Any]:
        return {"master": {}, "processes": []}

    def reload(self, reply: Any = None) -> None:
        self.calls.append(("reload", None))
        reply({"ok": True, "generation": 1})

    def stop(self, graceful: bool = True) -> None:
        self.calls.append(("stop", graceful))

    def scale(self, *, workers: int | None = None, delta: int = 0) -> tuple[bool, str, int]:
        self.calls.append(("scale", (workers, delta)))
        return True, "ok", workers or 2 + delta

    def reopen(self) -> None:
        self.calls.append(("reopen", None))


def test_signals_map_onto_the_same_commands() -> None:
    import signal

    master = FakeMaster()
    replies: list[dict[str, Any]] = []
    for sig in (signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU,
                signal.SIGUSR1):
        commands.dispatch(master, dict(commands.SIGNAL_COMMANDS[sig]), replies.append)
    assert master.calls == [("stop", True), ("stop", False), ("reload", None),
                            ("scale", (None, 1)), ("scale", (None, -1)), ("reopen", None)]
    commands.dispatch(master, {"op": "nope"}, replies.append)
    assert replies[-1]["ok"] is False and "unknown command 'nope'" in replies[-1]["error"]
    commands.dispatch(master, {"op": "scale", "workers": "3"}, replies.append)
    assert replies[-1] == {"ok": False, "error": "workers must be a whole number"}


@pytest.mark.parametrize("abstract", [False, True])
def test_sd_notify_reaches_a_real_datagram_socket(tmp_path: Path, abstract: bool) -> None:
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"skitai-test-{os.getpid()}"
        receiver.bind("\0" + name)
        address = "@" + name
    else:
        address = str(tmp_path / "notify.sock")
        receiver.bind(address)
    receiver.settimeout(5)
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier(env)
    assert env == {}  # consumed: children must not inherit them
    assert notifier.watchdog_interval == 1.0
    assert notifier.ready("2 workers")
    assert receiver.recv(4096) == b"READY=1\nSTATUS=2 workers"
    assert notifier.reloading()
    first = receiver.recv(4096).decode().split("\n")
    assert first[0] == "RELOADING=1" and first[1].startswith("MONOTONIC_USEC=")
    assert notifier.stopping()
    assert receiver.recv(4096) == b"STOPPING=1"
    assert notifier.watchdog_due(100.0)
    notifier.watchdog(100.0)
    assert receiver.recv(4096) == b"WATCHDOG=1"
    assert not notifier.watchdog_due(100.5)
    notifier.close()
    receiver.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert not notifier.enabled and not notifier.ready()
    assert notifier.watchdog_interval is None  # meant for another pid


def test_an_instance_is_its_app_and_listen_address_or_its_name() -> None:
    a = paths.for_config(ServerConfig(name="proj/app", script="/srv/a/app.py", port=5000))
    b = paths.for_config(ServerConfig(name="proj/app", script="/srv/a/app.py", port=5001))
    c = paths.for_config(ServerConfig(name="proj/app", script="/srv/a/app.py", port=5000))
    assert a.var != b.var and a.var == c.var
    named = paths.for_config(ServerConfig(name="x", instance="shop", script="/srv/a/app.py"))
    assert named.var == os.path.expanduser("~/.local/state/skitai/shop")
    assert cli.parse_app_args(["status", "--name", "shop"]).name == "shop"
    assert cli.parse_app_args(["--name=shop"]).name == "shop"
    with pytest.raises(ValueError, match="--name needs a name"):
        cli.parse_app_args(["--name", "../x"])
