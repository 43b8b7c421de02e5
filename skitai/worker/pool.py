"""The WSGI thread pool: few thread wake-ups, completions run in batches on the loop.

Theory.  At hello-world sizes what ``threads=4`` pays over ``threads=0`` is not the
Python it runs but the thread switches: every woken thread fights the loop for the GIL,
and each GIL hand-off is a futex wake and a context switch (``concurrent.futures`` plus
``call_soon_threadsafe`` per request measured ~3.6 switches a request, 1 worker, wrk
-c64).  So:

- ``submit(fn, *args)`` (on the loop) appends to a deque and wakes at most ONE sleeping
  thread, once per loop turn (``call_soon``: after the turn's reads), and only when no
  thread is awake: an awake thread takes the next job without sleeping.  No future: the
  caller's own completion carries the result back.
- A job may block (a database call, a WebSocket session): when no thread took a job for
  ``STALL`` while jobs wait, more threads are woken (checked at each submit, and by a
  loop timer while jobs wait).
- ``complete(fn, *args)`` (on a pool thread) appends to a deque; the thread wakes the
  loop (one self-pipe write, one callback for every completion held) when it has no job
  left, or at the next job once ``HOLD`` passed since its last wake-up; the loop timer
  runs completions a thread held before a job that blocks.

- A job waiting on a ``was`` call (``bridge.Handoff.result``; not a database call,
  which keeps its place: ``was/databases.py``) lends its place: the thread
  ``park()``s (counted in ``_parked``), which posts its held completions and, when jobs
  wait, wakes or starts another thread, up to ``max_threads`` in all; ``unpark()`` when
  the answer is in.  So ``threads`` bounds the threads running app code at once, not the
  requests waiting on backends (a view making 20 ms calls holds no place while it waits):
  Java's ``ForkJoinPool.managedBlock`` compensation.  A thread that finishes a job while
  more than ``threads`` run goes back to sleep, so the surplus lasts only while the
  waits do.

A thread decides to sleep under ``_lock``, and the loop decides to wake one under it,
after appending the job: no wake-up is lost.  ``_wake_pending`` is cleared by the loop
before it drains ``_done``, so a completion is either seen by a drain in progress or
schedules the next one.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

from skitai.ipc.lu import ThreadCounts
from skitai.was import bridge

log = logging.getLogger("skitai.server")

# No thread took a job for this long while jobs wait: wake another (its job may block).
# Short: a request behind a blocking job waits this long for a second thread (at 10 ms a
# view making 20 ms backend calls saw its p50 at -c8 rise from 23 to 33 ms; at 2 ms it
# did not move), while a thread only waiting for the GIL is sometimes taken for stalled.
STALL = 0.002
# A thread with more jobs to run holds completions at most this long.
HOLD = 0.001

Call = tuple[Callable[..., object], tuple[Any, ...]]


class ThreadPool:
    """``threads`` daemon threads named ``<name>_<n>``, started on first use, and up to
    ``max_threads`` in all while some wait on ``was`` calls (None: ``4 * threads``)."""

    def __init__(self, threads: int, loop: asyncio.AbstractEventLoop, name: str = "wsgi",
                 max_threads: int | None = None) -> None:
        if threads < 1:
            raise ValueError("a thread pool needs at least one thread")
        self.size = threads
        self.max_threads = max(threads, max_threads if max_threads else 4 * threads)
        self.loop = loop
        self.name = name
        self._jobs: collections.deque[Call | None] = collections.deque()
        self._lock = threading.Lock()  # _awake and _sleepers change together under it
        self._sleepers: list[threading.Lock] = []  # each held: released to wake its thread
        self._awake = 0  # threads running a job or about to look at the queue
        self._parked = 0  # of those, threads waiting on a was call (park/unpark)
        self._progress = 0.0  # monotonic time a thread last took a job
        self._check_pending = False
        self._wake_soon = False
        self._posted = 0.0  # monotonic time a thread last woke the loop for completions
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._done: collections.deque[Call] = collections.deque()
        self._wake_pending = False

    # --- loop side -------------------------------------------------------------------------
    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on a pool thread."""
        if self._stopping:
            return
        if len(self._threads) < self.size:
            self._start_threads()
        self._jobs.append((fn, args))
        if not self._wake_soon:
            if self.loop.is_running():
                # At the end of this loop turn: one wake-up for every job the turn submits.
                self._wake_soon = True
                self.loop.call_soon(self._wake_if_needed)
            else:
                self._wake_if_needed()  # (no turn to end: a test, or the worker stopping)
        if not self._check_pending:
            # An awake thread will take it, unless its job blocks: look again shortly.
            self._check_pending = True
            self.loop.call_later(STALL, self._check)

    def _wake_if_needed(self) -> None:
        self._wake_soon = False
        with self._lock:  # (a thread decides to sleep under it: no wake-up is lost)
            running = self._awake - self._parked
            if self._jobs and running < self.size and (
                    running == 0 or monotonic() - self._progress > STALL):
                self._wake_locked()

    def _wake_locked(self) -> bool:
        """Wake a sleeping thread, or start one while fewer than ``max_threads`` exist
        (False: neither)."""
        if self._sleepers:
            self._awake += 1
            self._progress = monotonic()  # (a thread woken but not yet running is no stall)
            self._sleepers.pop().release()
            return True
        if len(self._threads) < self.max_threads and not self._stopping:
            self._awake += 1
            self._progress = monotonic()
            self._start_thread()
            return True
        return False

    def _check(self) -> None:
        self._check_pending = False
        if self._done and not self._wake_pending:
            self._run_completions()  # held by a thread that went on to a job that blocks
        if self._jobs:
            if monotonic() - self._progress > STALL:
                with self._lock:  # the awake threads are stuck: a thread for each job
                    for _ in range(min(len(self._jobs),
                                       self.size - (self._awake - self._parked))):
                        if not self._wake_locked():
                            break
            self._check_pending = True
            self.loop.call_later(STALL, self._check)

    def _start_threads(self) -> None:
        while len(self._threads) < self.size:
            with self._lock:
                self._awake += 1
                self._start_thread()

    def _start_thread(self) -> None:
        """Under ``_lock``, counted awake already."""
        thread = threading.Thread(target=self._work, daemon=True,
                                  name=f"{self.name}_{len(self._threads)}")
        self._threads.append(thread)
        thread.start()

    def _run_completions(self) -> None:
        self._wake_pending = False  # before draining: see the module docstring
        done = self._done
        while done:
            fn, args = done.popleft()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - one completion must not drop the others
                log.exception("completion %r failed", fn)

    # --- thread side -----------------------------------------------------------------------
    def complete(self, fn: Callable[..., object], *args: Any) -> None:
        """From a pool thread: run ``fn(*args)`` on the loop, with the other completions
        of the same wake-up (posted by the pool thread when it has no job left)."""
        self._done.append((fn, args))
        if self._awake == 0:
            self._post()  # from a thread of the app's own: no pool thread would post it

    def _post(self) -> None:
        """Wake the loop for the completions held (a thread with no job left)."""
        if self._done and not self._wake_pending:
            self._wake_pending = True
            self._posted = monotonic()
            try:
                self.loop.call_soon_threadsafe(self._run_completions)
            except RuntimeError:
                pass  # the loop is closed: the worker is gone

    def park(self) -> None:
        """From a pool thread about to wait on the loop (a ``was`` call): its place goes
        to another thread while it waits."""
        self._post()  # what it holds must not wait for its answer
        with self._lock:
            self._parked += 1
            if self._jobs and self._awake - self._parked < self.size:
                self._wake_locked()

    def unpark(self) -> None:
        with self._lock:
            self._parked -= 1

    def _work(self) -> None:
        bridge.set_parker(self)
        jobs = self._jobs
        size = self.size
        me = threading.Lock()
        me.acquire()
        while True:
            try:
                if self._awake - self._parked > size and not self._stopping:
                    # (a surplus thread, left by waits that ended: it sleeps)
                    raise IndexError
                job = jobs.popleft()
            except IndexError:
                with self._lock:
                    if jobs and self._awake - self._parked <= size:
                        continue  # appended meanwhile, by a submit that saw this thread awake
                    self._awake -= 1
                    self._sleepers.append(me)
                # The completions go last, just before this thread lets go of the GIL: the
                # loop, woken by them, does not wait for it (a context switch less).
                self._post()
                me.acquire()  # until _wake_locked releases it (and counted this thread awake)
                continue
            if job is None:  # shutdown
                return
            now = self._progress = monotonic()
            if self._done and now - self._posted > HOLD:
                self._post()  # more jobs keep coming: the held responses go now
            fn, args = job
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - the callers report their own failures
                log.exception("pool job %r failed", fn)

    # --- status ----------------------------------------------------------------------------
    def counts(self) -> ThreadCounts:
        """The numbers ``skitai status`` shows (read by the heartbeat, once a second: the
        lock gives one consistent set; running + waiting + idle is the threads started)."""
        with self._lock:  # (threads, max_threads, running, waiting, idle, queued)
            return ThreadCounts(self.size, self.max_threads, max(0, self._awake - self._parked),
                                self._parked, len(self._sleepers), len(self._jobs))

    # --- stop ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """No new work; the threads end after the calls already queued (a running app
        call finishes on its own: the threads are daemons)."""
        self._stopping = True
        for _ in self._threads:
            self._jobs.append(None)
        with self._lock:
            for sleeper in self._sleepers:
                sleeper.release()
            self._awake += len(self._sleepers)
            self._sleepers.clear()
