"""``cluster="once"`` jobs: the fire goes through the cluster's fenced lease
(``skitai.cluster.lock``) before the runner starts it, and the run is reported under the
same lease when it ends.  Without a cluster (no ``enable_cluster``) a once job is a plain
job: one host is the whole cluster."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from skitai.config.daemons import CronJob
from skitai.cron import runner as runner_mod

STOP_WAIT = 10.0  # seconds a stopping cron waits for the last reports to reach Redis


def host_id(cluster: Any) -> str:
    """The cluster daemon's id for this host (the master is the parent of both)."""
    return str(cluster.host or f"{socket.gethostname()}-{os.getppid()}")


def attach(cron: Any, cluster: Any) -> None:
    """Give ``cron`` (a ``cron.main.Cron``) the cluster's lease for its once jobs; without
    a cluster, or without once jobs, nothing changes."""
    if cluster is None or not any(job.cluster == "once" for job in cron.jobs):
        return
    from skitai.cluster.lock import OnceLock

    settings = cron.settings
    cron.once = OnceRunner(cron.runner, OnceLock(cluster, host_id(cluster), cron.log),
                           timeout=settings.timeout, kill_grace=settings.kill_grace,
                           grace=settings.grace, log=cron.log)


class OnceRunner:
    def __init__(self, runner: runner_mod.Runner, lock: Any, *, timeout: float | None,
                 kill_grace: float, grace: float, log: logging.Logger) -> None:
        self.runner = runner
        self.lock = lock
        self.timeout = timeout
        self.kill_grace = kill_grace
        self.grace = grace
        self.log = log
        self._tasks: set[asyncio.Task[None]] = set()

    def fire(self, key: str, job: CronJob, slot: float, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._fire(key, job, slot, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fire(self, key: str, job: CronJob, slot: float, reason: str) -> None:
        from skitai.cluster.lock import job_key

        name = job.name or key
        lease = await self.lock.claim(name, job_key(job.spec, job.command), slot,
                                      self.lock.lease_for(job.timeout or self.timeout,
                                                          self.kill_grace), self.grace)
        if lease is None:
            return
        if not self.runner.start(key, job, f"{reason} (cluster fence {lease.fence})"):
            await self.lock.finish(name, lease, None)
            return
        task = self.runner.task(key)
        while task is not None and not task.done():
            await asyncio.wait({task}, timeout=lease.ttl / 3)
            if not task.done() and not await self.lock.renew(lease):
                self.log.error("[%s] cluster='once': the lease (fence %d) was lost while the "
                               "job runs", name, lease.fence)
                break
        code = None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                result: runner_mod.RunResult = await task
                code = result.code
        await self.lock.finish(name, lease, code)

    async def stop(self) -> None:
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=STOP_WAIT)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.lock.close()
