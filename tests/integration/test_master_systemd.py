"""systemd integration with a real master: sd_notify datagrams on a real socket set as
NOTIFY_SOCKET, and a listener handed over through LISTEN_FDS (socket activation)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.fixtures.master import MasterProc, spec


class Receiver:
    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address if not address.startswith("@") else "\0" + address[1:])
        self.messages: list[str] = []

    def collect(self, until: str, timeout: float = 15.0, start: int = 0) -> list[str]:
        """Receive until a message from index ``start`` on contains ``until``."""
        deadline = time.monotonic() + timeout
        while not any(until in m for m in self.messages[start:]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {until!r} in {self.messages}")
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        return self.messages


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_ready_reloading_stopping_and_watchdog(tmp_path: Path, abstract: bool) -> None:
    address = f"@skitai-notify-{os.getpid()}" if abstract else str(tmp_path / "notify")
    rx = Receiver(address)
    m = MasterProc(tmp_path, {"workers": 2}, [spec(count=2)], wait=False,
                   env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
    try:
        m.wait_serving()
        msgs = rx.collect("READY=1")
        ready = next(x for x in msgs if "READY=1" in x)
        assert "STATUS=2 web workers serving" in ready
        # READY comes after the workers serve: by then they answer.
        assert m.get("/")[0] == 200
        # Only the master talks to systemd: the children do not inherit NOTIFY_SOCKET.
        for row in m.workers():
            assert "NOTIFY_SOCKET" not in psutil.Process(row["pid"]).environ()
        rx.collect("WATCHDOG=1")
        m.signal(signal.SIGHUP)
        rx.collect("RELOADING=1")
        reloading = next(i for i, x in enumerate(rx.messages) if "RELOADING=1" in x)
        assert "MONOTONIC_USEC=" in rx.messages[reloading]
        rx.collect("READY=1", start=reloading + 1)  # the new generation serves
        m.signal(signal.SIGTERM)
        rx.collect("STOPPING=1")
        assert m.wait_exit(20) == 0
    finally:
        m.stop()
        rx.sock.close()


def test_listener_from_listen_fds_serves(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    wrapper = ("import os, sys\n"
               "os.dup2(int(sys.argv[1]), 3)\n"
               "os.set_inheritable(3, True)\n"
               "os.environ['LISTEN_FDS'] = '1'\n"
               "os.environ['LISTEN_PID'] = str(os.getpid())\n"
               "os.execv(sys.argv[2], sys.argv[2:])\n")
    m = MasterProc(tmp_path, {"workers": 2, "port": 1}, [spec(count=2)], wait=False,
                   argv_prefix=[sys.executable, "-c", wrapper, str(listener.fileno())],
                   pass_fds=(listener.fileno(),))
    listener.close()  # only the master holds it now
    try:
        m.wait_serving()
        assert m.port == port  # adopted, not bound again (port=1 would have failed)
        assert m.status()["master"]["listeners"] == [f"http://127.0.0.1:{port}/"]
        pids = set()
        for _ in range(20):
            status, body = m.get("/")
            assert status == 200
            pids.add(body["pid"])
        assert pids <= {r["pid"] for r in m.workers()}
    finally:
        m.stop()


UNITS = Path(__file__).resolve().parent.parent.parent / "systemd"


def _unit(name: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = {}
        else:
            key, _, value = line.partition("=")
            sections[current][key] = value
    return sections


def test_the_shipped_units_say_what_the_master_does(tmp_path: Path) -> None:
    service = _unit("skitai.service")["Service"]
    assert service["Type"] == "notify"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["ExecStart"].endswith("app.py")  # foreground: the master is MAINPID
    assert service["KillMode"] == "mixed"  # TERM to the master only; it drains the workers
    assert "4" in service["RestartPreventExitStatus"].split()  # APP_LOAD_ERROR: no loop
    assert _unit("skitai.socket")["Socket"]["ListenStream"] == "127.0.0.1:5000"
    import shutil
    import subprocess

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    for name in ("skitai.service", "skitai.socket"):
        (tmp_path / name).write_text((UNITS / name).read_text())
    out = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / "skitai.socket"),
                          str(tmp_path / "skitai.service")], capture_output=True, text=True,
                         timeout=60)
    complaints = [line for line in out.stderr.splitlines() if str(tmp_path) in line]
    assert complaints == [], out.stderr
