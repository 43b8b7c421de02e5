"""Running cron jobs: one subprocess per run, in its own process group.

Theory
------
* A run is ``/bin/sh -c <command>`` started with ``start_new_session=True``, so the job and
  everything it forks share one process group whose id is the shell's pid.  The group,
  not the shell, is the unit we kill: a job's grandchildren (``sleep`` in a script, a
  pipeline) die with it.  A process that calls ``setsid`` itself escapes; nothing short
  of cgroups can stop that.
* A run ends when the shell has exited and its stdout/stderr reach EOF.  Whatever is
  still in the group then (a background ``&`` child) is killed like a timed-out job:
  SIGTERM to the group, ``kill_grace`` seconds, SIGKILL (systemd's rule for a oneshot
  unit's cgroup; the original leaked such children and left zombies).
* ``timeout`` covers the whole run; on expiry the group is killed the same way and the
  run is logged as timed out.
* One run per job at a time: a job still running when its next slot comes is skipped,
  and the skip is logged.  ``stop()`` kills every running job's group.
* Across processes too: with a ``lock_dir``, a run holds an exclusive ``flock`` on
  ``<lock_dir>/<hash of spec and command>.lock`` for its whole length, so the cron under
  a master and a standalone ``skitai cron -f`` reading the same file never run one job
  twice at once (the lock dies with its holder: no stale lock after a crash).
* Output is read in chunks and split into lines here (``StreamReader.readline`` raises on
  a line longer than its limit); each line is logged as ``[name] out: ...``.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import psutil

from skitai.config.daemons import CronJob

MAX_LINE = 8192
# How long the output pipes may stay open after the shell exited before the leftovers
# in its group are killed.
DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class RunResult:
    name: str
    pid: int | None
    code: int | None  # exit status; negative: killed by that signal; None: never started
    duration: float
    timed_out: bool = False


@dataclass
class _Run:
    job: CronJob
    task: asyncio.Task[RunResult]
    pid: int | None = None
    lock: int | None = None  # the flock'd descriptor, closed when the run ends


def lock_name(job: CronJob) -> str:
    return hashlib.sha1(f"{job.spec}\0{job.command}".encode()).hexdigest()[:20] + ".lock"


class Runner:
    def __init__(
        self,
        log: logging.Logger,
        *,
        cwd: str,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        kill_grace: float = 5.0,
        on_finish: Callable[[RunResult], None] | None = None,
        lock_dir: str | None = None,
    ) -> None:
        self.lock_dir = lock_dir
        self.log = log
        self.cwd = cwd
        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout
        self.kill_grace = kill_grace
        self.on_finish = on_finish
        self._running: dict[str, _Run] = {}

    @property
    def running(self) -> list[str]:
        return list(self._running)

    def start(self, key: str, job: CronJob, reason: str = "") -> bool:
        """Start a run of ``job`` unless one of the same ``key`` is still going (then log the
        skip and return False)."""
        current = self._running.get(key)
        if current is not None:
            self.log.warning("[%s] still running (pid %s): skipped the run %s", job.name,
                             current.pid, reason or "due now",
                             extra={"job": job.name, "pid": current.pid})
            return False
        lock = self._lock(job)
        if lock == -1:
            self.log.warning("[%s] running in another cron process (lock %s): skipped the run %s",
                             job.name, lock_name(job), reason or "due now",
                             extra={"job": job.name})
            return False
        run = _Run(job, asyncio.get_running_loop().create_task(self._run(key, job, reason)),
                   lock=lock)
        self._running[key] = run
        run.task.add_done_callback(lambda _t: self._forget(key, run))
        return True

    def task(self, key: str) -> asyncio.Task[RunResult] | None:
        """The task of the running ``key`` (None when it does not run)."""
        run = self._running.get(key)
        return run.task if run is not None else None

    def _lock(self, job: CronJob) -> int | None:
        """The job's cross-process lock: a descriptor, None without a lock_dir, -1 if held."""
        if self.lock_dir is None:
            return None
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.lock_dir, lock_name(job)), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return -1
        return fd

    def _forget(self, key: str, run: _Run) -> None:
        if run.lock is not None:
            os.close(run.lock)
            run.lock = None
        # Also covers a task cancelled before it ever ran (its body never pops the key).
        if self._running.get(key) is run:
            del self._running[key]

    async def wait(self) -> None:
        """Until no job is running."""
        while self._running:
            await asyncio.gather(*(r.task for r in list(self._running.values())),
                                 return_exceptions=True)

    async def stop(self) -> None:
        """Kill every running job's process group and wait for the runs to end."""
        runs = list(self._running.values())
        for run in runs:
            self.log.info("[%s] cron is stopping: killing its process group (pid %s)",
                          run.job.name, run.pid, extra={"job": run.job.name, "pid": run.pid})
            run.task.cancel()
        await asyncio.gather(*(r.task for r in runs), return_exceptions=True)

    # --- one run -----------------------------------------------------------------------------

    async def _run(self, key: str, job: CronJob, reason: str) -> RunResult:
        name = job.name or key
        started = time.monotonic()
        env = dict(self.env)
        env.update(job.env)
        # Our own pipes, not PIPE: asyncio's Process.wait() only returns once the pipes it
        # owns are closed, and a grandchild holding stdout would hide the shell's exit.
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", job.command, cwd=job.cwd or self.cwd, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            self._running.pop(key, None)
            self.log.error("[%s] cannot start: %s", name, exc, extra={"job": name})
            return self._finish(RunResult(name, None, None, time.monotonic() - started))
        finally:
            os.close(out_w)
            os.close(err_w)
        self._running[key].pid = proc.pid
        self.log.info("[%s] started (pid %d)%s: %s", name, proc.pid,
                      f" {reason}" if reason else "", job.command,
                      extra={"job": name, "pid": proc.pid})
        files = [open(fd, "rb", buffering=0) for fd in (out_r, err_r)]
        transports: list[asyncio.BaseTransport] = []
        pumps: list[asyncio.Task[None]] = []
        timeout = job.timeout if job.timeout is not None else self.timeout
        timed_out = False
        try:
            loop = asyncio.get_running_loop()
            for file, label in zip(files, ("out", "err"), strict=True):
                stream = asyncio.StreamReader()
                transport, _ = await loop.connect_read_pipe(
                    partial(asyncio.StreamReaderProtocol, stream), file)
                transports.append(transport)
                pumps.append(asyncio.create_task(self._pump(name, stream, label)))
            try:
                async with asyncio.timeout(timeout):
                    code = await proc.wait()
                    await self._drain(pumps, name, proc.pid)
            except TimeoutError:
                timed_out = True
                self.log.warning("[%s] timed out after %.3gs: killing its process group "
                                 "(pid %d)", name, timeout, proc.pid,
                                 extra={"job": name, "pid": proc.pid})
                await self._kill_group(proc.pid)
                code = await proc.wait()
                await self._drain(pumps, name, proc.pid)
        except asyncio.CancelledError:  # cron is stopping
            await self._kill_group(proc.pid)
            await proc.wait()
            duration = time.monotonic() - started
            self.log.info("[%s] killed at stop after %.3fs", name, duration,
                          extra={"job": name, "pid": proc.pid})
            self._running.pop(key, None)
            self._finish(RunResult(name, proc.pid, proc.returncode, duration, False))
            raise
        finally:
            for pump in pumps:
                pump.cancel()
            for pipe in transports:
                pipe.close()
            for file in files[len(transports):]:
                file.close()
        duration = time.monotonic() - started
        self._running.pop(key, None)
        level = logging.INFO if code == 0 and not timed_out else logging.WARNING
        self.log.log(level, "[%s] exited %d in %.3fs%s", name, code, duration,
                     " (timed out)" if timed_out else "",
                     extra={"job": name, "pid": proc.pid, "code": code, "duration": duration})
        return self._finish(RunResult(name, proc.pid, code, duration, timed_out))

    def _finish(self, result: RunResult) -> RunResult:
        if self.on_finish is not None:
            self.on_finish(result)
        return result

    async def _drain(self, pumps: list[asyncio.Task[None]], name: str, pgid: int) -> None:
        """The shell has exited: read the rest of the output, then kill what is left in its
        group (a background child holding the pipe open would keep the run alive forever)."""
        done, _pending = await asyncio.wait(pumps, timeout=DRAIN_SECONDS)
        if _group_alive(pgid):
            self.log.warning("[%s] left processes in its group: killing them", name,
                             extra={"job": name, "pid": pgid})
            await self._kill_group(pgid)
            await asyncio.wait(pumps, timeout=DRAIN_SECONDS)

    async def _kill_group(self, pgid: int) -> None:
        if not _signal_group(pgid, signal.SIGTERM):
            return
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if not _group_alive(pgid):
                return
        _signal_group(pgid, signal.SIGKILL)

    async def _pump(self, name: str, stream: asyncio.StreamReader, label: str) -> None:
        buffer = b""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self._line(name, label, line)
            while len(buffer) > MAX_LINE:
                self._line(name, label, buffer[:MAX_LINE])
                buffer = buffer[MAX_LINE:]
        if buffer:
            self._line(name, label, buffer)

    def _line(self, name: str, label: str, line: bytes) -> None:
        text = line.rstrip(b"\r").decode("utf-8", errors="replace")
        self.log.info("[%s] %s: %s", name, label, text, extra={"job": name})


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a live process is still in the group.  ``killpg(pgid, 0)`` alone also counts
    zombies (an orphan not yet reaped by init), so a yes from it is checked with psutil."""
    if not _signal_group(pgid, 0):
        return False
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
