"""The WSGI thread pool, and its completions run in batches on the loop.

Theory.  ``concurrent.futures.ThreadPoolExecutor`` costs each request a ``Future`` (with
its own ``threading.Condition``) and a work item, and ``loop.call_soon_threadsafe`` costs
each response a handle and a write to the loop's self-pipe.  At hello-world sizes that
hand-off was a large part of what ``threads=4`` paid over ``threads=0``.  Here:

- ``submit(fn, *args)`` puts the call on a ``queue.SimpleQueue`` (C, one lock, no
  future: the caller's own completion carries the result back);
- ``complete(fn, *args)`` from a pool thread appends to a deque and wakes the loop only
  if no wake-up is pending: one wake-up (one self-pipe write, one callback) runs every
  completion that arrived meanwhile, in order.

``complete`` is safe without a lock: a thread appends before it reads the flag, and the
loop clears the flag before it drains, so a call is either seen by a drain in progress
or schedules the next one.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("skitai.server")

Call = tuple[Callable[..., object], tuple[Any, ...]]


class ThreadPool:
    """``threads`` daemon threads named ``<name>_<n>``, started on first use."""

    def __init__(self, threads: int, loop: asyncio.AbstractEventLoop, name: str = "wsgi") -> None:
        if threads < 1:
            raise ValueError("a thread pool needs at least one thread")
        self.size = threads
        self.loop = loop
        self.name = name
        self._jobs: queue.SimpleQueue[Call | None] = queue.SimpleQueue()
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
        self._jobs.put((fn, args))

    def _start_threads(self) -> None:
        while len(self._threads) < self.size:
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
        of the same wake-up."""
        self._done.append((fn, args))
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self.loop.call_soon_threadsafe(self._run_completions)
            except RuntimeError:
                pass  # the loop is closed: the worker is gone

    def _work(self) -> None:
        get = self._jobs.get
        while True:
            job = get()
            if job is None:  # shutdown
                return
            fn, args = job
            try:
                fn(*args)
            except BaseException:  # noqa: BLE001 - the callers report their own failures
                log.exception("pool job %r failed", fn)

    # --- stop ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """No new work; the threads end after the calls already queued (a running app
        call finishes on its own: the threads are daemons)."""
        self._stopping = True
        for _ in self._threads:
            self._jobs.put(None)
