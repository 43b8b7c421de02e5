"""The spooler daemon: ``skitai.spooler.daemon:main(ctx)``, ``count`` runners in parallel.

Each runner (one process per slot) claims due tasks into its own claim directory
(``cur.<slot>``), so a runner that restarts takes back only its own unfinished work
(``recover``): a task is run at least once even when a runner is SIGKILLed mid-task.
A task that raises is retried with exponential backoff (``backoff`` * 2**attempt, capped
at ``backoff_max``) up to ``retries`` times, then kept in ``failed/`` with its error; a
task running longer than ``timeout`` is interrupted (``TaskTimeout``, in the runner's
main thread) and counts as a failure.  Every result and failure goes to the log; the
queue depth to ``skitai status``.

Options (``enable_spooler(count=2, retries=3, timeout=60, ...)`` or ``[daemon:spooler]``):
``spool``, ``retries`` (3), ``timeout`` (seconds, 0: none; 300), ``backoff`` (1 s),
``backoff_max`` (300 s), ``poll`` (seconds between looks at an empty queue, 0.05),
``keep_days`` (3), ``durable`` (fsync every task file, false).
"""

from __future__ import annotations

import signal
import time
from typing import Any

from skitai import filespool
from skitai.config import parse
from skitai.daemons.context import DaemonContext
from skitai.spooler import queue


class TaskTimeout(Exception):
    pass


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise TaskTimeout()


class Runner:
    def __init__(self, ctx: DaemonContext) -> None:
        cfg = ctx.config
        self.ctx = ctx
        self.log = ctx.log
        self.retries = parse.non_negative_int(cfg.get("retries", 3))
        self.timeout = parse.seconds(cfg.get("timeout", 300))
        self.backoff = parse.seconds(cfg.get("backoff", 1.0))
        self.backoff_max = parse.seconds(cfg.get("backoff_max", 300))
        self.poll = parse.seconds(cfg.get("poll", 0.05))
        self.keep_days = parse.seconds(cfg.get("keep_days", 3))
        self.spool = queue.TaskSpool(queue.spool_dir(ctx.server_config),
                                     claim_dir=f"cur.{ctx.slot}",
                                     durable=queue.durable(ctx.server_config))
        self.done = self.failed = 0

    def run(self) -> int:
        signal.signal(signal.SIGALRM, _on_alarm)
        back = self.spool.recover()
        if back:
            self.log.warning("spooler #%d: %d task(s) a killed runner left are queued again",
                             self.ctx.slot, back)
        last_report = last_purge = 0.0
        while not self.ctx.stopping():
            now = time.monotonic()
            if now - last_report >= 1.0:
                last_report = now
                self.ctx.status({"queue": self.spool.depth(), "done": self.done,
                                 "failed": self.failed})
            if self.ctx.slot == 0 and now - last_purge >= 3600:
                last_purge = now
                self.spool.purge(self.keep_days)
            ran = 0
            for rid in self.spool.due(limit=64):
                if self.ctx.stopping():
                    break
                rec = self.spool.claim(rid)
                if rec is not None:
                    self.execute(rec)
                    ran += 1
            if not ran:
                self.ctx.wait(self.poll)
        return 0

    def execute(self, rec: queue.TaskRecord) -> filespool.State:
        started = time.monotonic()
        timeout = rec.timeout if rec.timeout is not None else self.timeout
        rec.attempts += 1
        try:
            func = queue.resolve(rec.func)
            if timeout:
                signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                result = func(*rec.args, **rec.kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except TaskTimeout:
            return self._failed(rec, f"timed out after {timeout:g}s", started)
        except Exception as exc:  # noqa: BLE001 - a task's failure is recorded, not fatal
            return self._failed(rec, f"{type(exc).__name__}: {exc}", started)
        self.done += 1
        self.log.info("task %s %s: ok in %.3fs -> %.200r", rec.id, rec.func,
                      time.monotonic() - started, result)
        return self.spool.finish(rec, filespool.Input.OK)

    def _failed(self, rec: queue.TaskRecord, reason: str, started: float) -> filespool.State:
        retries = rec.retries if rec.retries is not None else self.retries
        if rec.attempts > retries:
            self.failed += 1
            self.log.error("task %s %s failed %d time(s), giving up: %s", rec.id, rec.func,
                           rec.attempts, reason)
            return self.spool.finish(rec, filespool.Input.GIVE_UP, reason=reason)
        delay = min(self.backoff_max, self.backoff * 2 ** (rec.attempts - 1))
        self.log.warning("task %s %s failed (attempt %d of %d, %.3fs): %s; retry in %.1fs",
                         rec.id, rec.func, rec.attempts, retries + 1,
                         time.monotonic() - started, reason, delay)
        return self.spool.finish(rec, filespool.Input.TEMPFAIL, reason=reason,
                                 retry_at=self.spool.clock() + delay)


def main(ctx: DaemonContext) -> int:
    return Runner(ctx).run()
