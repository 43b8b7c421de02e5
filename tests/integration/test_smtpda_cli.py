"""The standalone daemon as a real subprocess: SIGKILL at random moments, and the CLI."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from skitai.smtpda import message, spool
from tests.integration import smtpd_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _conf(tmp: str, port: int, extra: str = "") -> str:
    path = os.path.join(tmp, "skitai.conf")
    with open(path, "w") as f:
        f.write(f"[common]\nvar-path = {tmp}/var\n\n[smtpda]\nsmtp-server = 127.0.0.1:{port}\n"
                f"max-retry = 50\nkeep-days = 3\n{extra}")
    os.chmod(path, 0o600)
    return path


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "skitai.smtpda", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": ROOT}


def test_sigkill_loop_loses_nothing(tmp_path: os.PathLike[str]) -> None:
    tmp = str(tmp_path)
    ctl, rec = smtpd_helper.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        conf = _conf(tmp, ctl.port)
        root = os.path.join(tmp, "var", "smtpda")
        ids = {message.Composer(f"m{i}", "a@example.com", "b@example.com").send(root)
               for i in range(500)}
        rng = random.Random(4)
        deadline = time.monotonic() + 90
        kills = 0
        while time.monotonic() < deadline:
            p = subprocess.Popen(_cmd("-f", conf), env=_env(), cwd=tmp,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            if kills < 8:
                time.sleep(rng.uniform(0.3, 0.9))
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
                continue
            while time.monotonic() < deadline and spool.Spool(root).stats()["sent"] < 500:
                time.sleep(0.2)
            time.sleep(1.5)  # let a fresh daemon install its signal handlers
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=20) == 0
            break
        assert kills == 8
        st = spool.Spool(root).stats()
        assert st["sent"] == 500 and st["queued"] == 0 and st["deferred"] == 0
        got = rec.ids()
        assert ids <= set(got), f"lost {len(ids - set(got))}"
        assert len(got) >= 500
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ctl.stop()


def test_cli_round_trip(tmp_path: os.PathLike[str]) -> None:
    tmp = str(tmp_path)
    ctl, rec = smtpd_helper.start()
    try:
        conf = _conf(tmp, ctl.port)
        root = os.path.join(tmp, "var", "smtpda")

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(_cmd("-f", conf, *args), env=_env(), cwd=tmp, text=True,
                                  capture_output=True, timeout=30)

        r = run("status")
        assert r.returncode == 3 and "stopped" in r.stdout
        assert run("start").returncode == 0
        try:
            r = run("status")
            assert r.returncode == 0 and "running" in r.stdout
            assert run("start").returncode == 1  # already running
            mid = message.Composer("cli", "a@example.com", "b@example.com").send(root)
            deadline = time.monotonic() + 20
            while mid not in rec.ids() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert mid in rec.ids()
            r = run("status")
            assert "sent 1" in r.stdout and "queued 0" in r.stdout
        finally:
            r = run("stop")
        assert r.returncode == 0
        assert run("status").returncode == 3
        # README spelling
        r = subprocess.run([sys.executable, "-m", "skitai.bin.smtpda", "-f", conf, "status"],
                           env=_env(), cwd=tmp, text=True, capture_output=True, timeout=30)
        assert r.returncode == 3
    finally:
        ctl.stop()


def test_password_in_world_readable_conf_refused(tmp_path: os.PathLike[str]) -> None:
    tmp = str(tmp_path)
    conf = _conf(tmp, 25, "password = secret\n")
    os.chmod(conf, 0o644)
    r = subprocess.run(_cmd("-f", conf, "status"), env=_env(), cwd=tmp, text=True,
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and "chmod 600" in r.stderr


def test_bad_key_named_with_line(tmp_path: os.PathLike[str]) -> None:
    tmp = str(tmp_path)
    conf = _conf(tmp, 25, "max-retries = 3\n")
    r = subprocess.run(_cmd("-f", conf, "status"), env=_env(), cwd=tmp, text=True,
                       capture_output=True, timeout=30)
    assert r.returncode == 2 and "skitai.conf:8" in r.stderr and "max-retries" in r.stderr


def test_seed_rc_local_spelling_starts_and_stops(tmp_path: os.PathLike[str]) -> None:
    """The seed's rc.local line: ``python -m skitai.server.bin.smtpda -f ~/.skitai.conf -d``."""
    tmp = str(tmp_path)
    ctl, _rec = smtpd_helper.start()
    try:
        conf = _conf(tmp, ctl.port)

        def seed(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "skitai.server.bin.smtpda", "-f", conf,
                                   *args], env=_env(), cwd=tmp, text=True, capture_output=True,
                                  timeout=30)

        assert seed("status").returncode == 3
        r = seed("-d")
        assert r.returncode == 0, r.stderr
        try:
            r = seed("status")
            assert r.returncode == 0 and "running" in r.stdout
        finally:
            assert seed("stop").returncode == 0
        assert seed("status").returncode == 3
    finally:
        ctl.stop()
