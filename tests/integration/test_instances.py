"""One app file, several instances (issue 10 item 17): an instance is keyed by the app
file and its listen address, or by an explicit ``--name``; ``status``/``stop`` find it the
same way ``start`` made it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
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
ROOT = str(Path(__file__).resolve().parent.parent.parent)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def home() -> Iterator[Path]:
    """A private, short HOME: the default state folders (~/.local/state/skitai/...) go
    there, and their control socket paths stay within the unix limit."""
    path = tempfile.mkdtemp(prefix="skh", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


class Instances:
    def __init__(self, tmp_path: Path, home: Path) -> None:
        self.app = tmp_path / "app.py"
        self.app.write_text(textwrap.dedent(APP))
        self.env = {**os.environ, "HOME": str(home), "PYTHONPATH": ROOT}
        self.started: list[tuple[str, ...]] = []

    def run(self, port: int, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "SKITAI_PORT": str(port)}
        if args[:1] == ("start",):
            self.started.append((str(port), *args[1:]))
        return subprocess.run([sys.executable, str(self.app), *args], env=env, text=True,
                              capture_output=True, timeout=120, cwd=self.app.parent)

    def stop_all(self) -> None:
        for port, *rest in self.started:
            self.run(int(port), "stop", *rest)


def test_the_same_app_on_two_ports_runs_twice_and_each_is_found(tmp_path: Path,
                                                                home: Path) -> None:
    inst = Instances(tmp_path, home)
    a, b = _free_port(), _free_port()
    try:
        first = inst.run(a, "start")
        assert first.returncode == 0, first.stderr
        second = inst.run(b, "start")
        assert second.returncode == 0, second.stderr  # not "already running"
        sa, sb = inst.run(a, "status"), inst.run(b, "status")
        assert sa.returncode == 0 and f":{a}" in sa.stdout, sa.stdout
        assert sb.returncode == 0 and f":{b}" in sb.stdout, sb.stdout
        assert inst.run(a, "start").returncode == 1  # the same instance: already running
        assert inst.run(a, "stop").returncode == 0
        assert inst.run(a, "status").returncode == 3
        assert inst.run(b, "status").returncode == 0  # the other one is untouched
    finally:
        inst.stop_all()
    assert inst.run(b, "status").returncode == 3


def test_an_explicit_name_is_the_instance(tmp_path: Path, home: Path) -> None:
    inst = Instances(tmp_path, home)
    a, b = _free_port(), _free_port()
    try:
        assert inst.run(a, "start", "--name", "shop").returncode == 0
        again = inst.run(b, "start", "--name", "shop")
        assert again.returncode == 1 and "already running" in again.stderr
        status = inst.run(b, "status", "--name", "shop")  # found by name, whatever the port
        assert status.returncode == 0 and f":{a}" in status.stdout, status.stdout
        assert "skitai(shop)" in status.stdout
        assert (home / ".local" / "state" / "skitai" / "shop").is_dir()
        assert inst.run(a, "status").returncode == 3  # no unnamed instance runs
    finally:
        inst.stop_all()
    assert inst.run(a, "status", "--name", "shop").returncode == 3
