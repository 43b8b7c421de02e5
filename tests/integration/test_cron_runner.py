"""Cron jobs as real subprocesses: output, exit codes, overlap, timeouts, process groups."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from skitai.config.daemons import CronJob
from skitai.cron import main, runner, schedule


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def having(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, Records]]:
    logger = logging.getLogger(f"test.cron.{time.monotonic_ns()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    records = Records()
    logger.addHandler(records)
    yield logger, records
    logger.removeHandler(records)


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Pids a test started indirectly: SIGKILLed at the end whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_pids(path: Path, count: int, reaper: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            pids = [int(w) for w in path.read_text().split()]
            if len(pids) >= count:
                reaper.extend(pids)
                return pids
        time.sleep(0.02)
    raise AssertionError(f"{path} never listed {count} pids")


def job(command: str, **kw: object) -> CronJob:
    return schedule.parse_job("* * * * *", command, "test", **kw)  # type: ignore[arg-type]


def test_output_exit_code_and_duration_are_logged(log: tuple[logging.Logger, Records],
                                                  tmp_path: Path) -> None:
    logger, records = log
    results: list[runner.RunResult] = []

    async def go() -> None:
        r = runner.Runner(logger, cwd=str(tmp_path), env={"PATH": os.environ["PATH"]},
                          on_finish=results.append)
        assert r.start("a", job("echo one; echo two >&2; printf 'no newline'; exit 3", name="report"))
        assert r.start("b", job("pwd; echo \"$GREETING\"", name="where", env={"GREETING": "hi"},
                                cwd=str(tmp_path)))
        await r.wait()

    asyncio.run(go())
    assert records.having("[report] out: one") and records.having("[report] err: two")
    assert records.having("[report] out: no newline")
    assert any(line.startswith("[report] exited 3 in ") for line in records.lines)
    assert records.having(f"[where] out: {tmp_path}") and records.having("[where] out: hi")
    by_name = {res.name: res for res in results}
    assert by_name["report"].code == 3 and by_name["where"].code == 0
    assert 0 <= by_name["report"].duration < 10


def test_overlap_is_skipped_and_logged(log: tuple[logging.Logger, Records], tmp_path: Path) -> None:
    logger, records = log

    async def go() -> None:
        r = runner.Runner(logger, cwd=str(tmp_path))
        slow = job("sleep 1", name="slow")
        assert r.start("slow", slow)
        await asyncio.sleep(0.2)
        assert not r.start("slow", slow, "for 10:01")
        assert r.running == ["slow"]
        await r.wait()
        assert r.start("slow", slow)       # free again once the run ended
        await r.wait()

    asyncio.run(go())
    skipped = records.having("[slow] still running")
    assert len(skipped) == 1 and "skipped the run for 10:01" in skipped[0]
    assert len(records.having("[slow] started")) == 2


def test_timeout_kills_the_whole_process_group(log: tuple[logging.Logger, Records], tmp_path: Path,
                                               reaper: list[int]) -> None:
    logger, records = log
    pidfile = tmp_path / "pids"
    results: list[runner.RunResult] = []

    async def go() -> None:
        r = runner.Runner(logger, cwd=str(tmp_path), kill_grace=1.0, on_finish=results.append)
        r.start("t", job(f"sleep 300 & echo $$ $! > {pidfile}; wait", name="hang", timeout=0.5))
        await r.wait()

    started = time.monotonic()
    asyncio.run(go())
    assert time.monotonic() - started < 30
    shell, grandchild = read_pids(pidfile, 2, reaper)
    assert results[0].timed_out and results[0].pid == shell
    assert gone(shell) and gone(grandchild)
    assert records.having("[hang] timed out after 0.5s")


def test_timeout_escalates_to_sigkill_for_a_group_ignoring_term(
        log: tuple[logging.Logger, Records], tmp_path: Path, reaper: list[int]) -> None:
    logger, records = log
    pidfile = tmp_path / "pids"

    async def go() -> None:
        r = runner.Runner(logger, cwd=str(tmp_path), kill_grace=0.5)
        r.start("t", job(f"trap '' TERM; sleep 300 & echo $$ $! > {pidfile}; wait; wait",
                         name="stubborn", timeout=0.5))
        await r.wait()

    asyncio.run(go())
    shell, grandchild = read_pids(pidfile, 2, reaper)
    assert gone(shell) and gone(grandchild)
    assert any("[stubborn] exited -9" in line for line in records.lines)


def test_background_leftovers_are_killed_when_the_job_ends(
        log: tuple[logging.Logger, Records], tmp_path: Path, reaper: list[int]) -> None:
    logger, records = log
    pidfile = tmp_path / "pids"

    async def go() -> None:
        r = runner.Runner(logger, cwd=str(tmp_path), kill_grace=1.0)
        r.start("t", job(f"sleep 300 & echo $! > {pidfile}", name="leaky"))
        await r.wait()

    asyncio.run(go())
    (grandchild,) = read_pids(pidfile, 1, reaper)
    assert gone(grandchild)
    assert records.having("[leaky] left processes in its group")
    assert any(line.startswith("[leaky] exited 0") for line in records.lines)


def test_stop_kills_running_jobs_groups(log: tuple[logging.Logger, Records], tmp_path: Path,
                                       reaper: list[int]) -> None:
    logger, records = log
    pidfile = tmp_path / "pids"

    async def go() -> None:
        r = runner.Runner(logger, cwd=str(tmp_path), kill_grace=1.0)
        r.start("t", job(f"sleep 300 & echo $$ $! > {pidfile}; wait", name="long"))
        await asyncio.to_thread(read_pids, pidfile, 2, reaper)
        await r.stop()
        assert r.running == []

    asyncio.run(go())
    shell, grandchild = reaper
    assert gone(shell) and gone(grandchild)
    assert records.having("[long] cron is stopping")


def test_a_seconds_spec_runs_on_time(log: tuple[logging.Logger, Records], tmp_path: Path) -> None:
    """The real loop with the real clock: every 2 s, started close to the slot, no drift."""
    logger, records = log
    stamps = tmp_path / "stamps"
    settings = main.Settings(cwd=str(tmp_path), var_path=str(tmp_path))
    cron = main.Cron([schedule.parse_job("* * * * * */2", f"date +%s.%N >> {stamps}", "test")],
                     settings, logger)

    async def go() -> None:
        task = asyncio.create_task(cron.serve())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if stamps.exists() and len(stamps.read_text().split()) >= 3:
                break
        cron.stop()
        assert await task == 0

    asyncio.run(go())
    times = [float(w) for w in stamps.read_text().split()]
    assert len(times) >= 3
    for t in times:
        # each run starts shortly after an even second (generous: a loaded 2-core box)
        assert (t % 2) < 1.0, times
    slots = [int(t // 2) for t in times]
    assert slots == sorted(set(slots)), times          # one run per slot, in order
    assert records.having("[date] exited 0")
