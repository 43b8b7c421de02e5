"""The end-of-session leak guard judges only processes this test session started."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import conftest

SLEEPER = "import setproctitle, time; setproctitle.setproctitle('skitai(other): master'); " \
          "time.sleep(60)"


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SLEEPER], env=env)


def test_a_foreign_skitai_process_is_not_flagged() -> None:
    # A developer's server: a skitai( title, but not started under this session's token.
    env = {k: v for k, v in os.environ.items() if k != conftest.SESSION_ENV}
    proc = _start(env)
    try:
        leaked = conftest.leaked_processes(conftest.SESSION_TOKEN, [])
        assert not any(line.startswith(f"{proc.pid}:") for line in leaked)
    finally:
        proc.kill()
        proc.wait(5)


def test_a_process_of_this_session_is_flagged_even_unrecorded() -> None:
    # A child of ours that no test recorded (a daemonized master, a worker) still counts.
    proc = _start(dict(os.environ))
    try:
        leaked = conftest.leaked_processes(conftest.SESSION_TOKEN, [])
        assert any(line.startswith(f"{proc.pid}:") for line in leaked)
    finally:
        proc.kill()
        proc.wait(5)
    assert not any(line.startswith(f"{proc.pid}:")
                   for line in conftest.leaked_processes(conftest.SESSION_TOKEN, []))
