"""Resource watch over the web workers (psutil): the CPU critical point and the RSS
ceiling.  It only decides; the arbiter recycles gracefully (a successor first, then a
graceful stop of the old one, whose in-flight requests finish).

``set_worker_critical_point(cpu_percent=90, continuous=3, interval=20)``: every
``interval`` seconds each worker's CPU use since the last sample is measured; a worker at
or over ``cpu_percent`` for ``continuous`` samples in a row is recycled.  The original
sent TERM then KILL (its in-flight request got an empty reply) and divided by the number
of live workers (a ZeroDivisionError with none); here a sample is per process.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psutil

from skitai.config.model import CriticalPoint

RSS_EVERY = 2.0  # seconds between RSS checks


@dataclass
class Usage:
    cpu_seconds: float = 0.0
    rss: int = 0


class Monitor:
    def __init__(self, critical: CriticalPoint | None, max_rss: int) -> None:
        self.critical = critical
        self.max_rss = max_rss
        self._procs: dict[int, psutil.Process] = {}
        self._hot: dict[int, int] = {}
        self._next_cpu = 0.0
        self._next_rss = 0.0

    def _proc(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # primes the counter; the first real sample is next time
            except psutil.Error:
                return None
            self._procs[pid] = proc
        return proc

    def forget(self, pid: int) -> None:
        self._procs.pop(pid, None)
        self._hot.pop(pid, None)

    def check(self, pids: list[int], now: float) -> list[tuple[int, str]]:
        """Pids to recycle now, with the reason to log."""
        out: list[tuple[int, str]] = []
        if self.critical is not None and self.critical.interval > 0:
            if not self._next_cpu:
                self._next_cpu = now + self.critical.interval
                for pid in pids:
                    self._proc(pid)
            elif now >= self._next_cpu:
                self._next_cpu = now + self.critical.interval
                out.extend(self._check_cpu(pids))
        if self.max_rss > 0 and now >= self._next_rss:
            self._next_rss = now + RSS_EVERY
            for pid in pids:
                rss = self.usage(pid).rss
                if rss > self.max_rss:
                    out.append((pid, f"RSS {rss >> 20} MiB over the {self.max_rss >> 20} MiB ceiling"))
        first: dict[int, str] = {}  # one reason per pid, the first found
        for pid, reason in out:
            first.setdefault(pid, reason)
        return list(first.items())

    def _check_cpu(self, pids: list[int]) -> list[tuple[int, str]]:
        assert self.critical is not None
        out = []
        for pid in pids:
            proc = self._proc(pid)
            if proc is None:
                continue
            try:
                percent = proc.cpu_percent(None)
            except psutil.Error:
                continue
            if percent >= self.critical.cpu_percent:
                self._hot[pid] = self._hot.get(pid, 0) + 1
            else:
                self._hot[pid] = 0
            if self._hot[pid] >= self.critical.continuous:
                self._hot[pid] = 0
                out.append((pid, f"CPU {percent:.0f}% for {self.critical.continuous} samples "
                                 f"of {self.critical.interval:g}s (critical point "
                                 f"{self.critical.cpu_percent:g}%)"))
        return out

    def usage(self, pid: int) -> Usage:
        proc = self._proc(pid)
        if proc is None:
            return Usage()
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            return Usage(times.user + times.system, proc.memory_info().rss)
        return Usage()
