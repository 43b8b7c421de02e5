"""The handle a ``was`` call returns at once: ``getwait``, ``wait``, ``getswait``,
``cache``, or ``await`` it.

A call is started when its handle is made (unless the result cache answers it), so
several handles made before the first wait run concurrently.  The call's coroutine
never raises: it turns every outcome into a ``Result`` (status 3 done, 2 failed, 1 timed
out), bounded by the call's own ``timeout``; a wait shorter than that gives up waiting
(status 1) and cancels the call.
"""

from __future__ import annotations

import _thread
import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from skitai.was import bridge as bridge_mod
from skitai.was import context
from skitai.was import rcache as rcache_mod
from skitai.was.result import DONE, EXCEPTION, TIMEOUT, Results
from skitai.was.result import Result as Result

log = logging.getLogger("skitai.was")
# then() in an app thread and the loop finishing the call: the callback list is swapped
# under this lock, so a callback added just as the call finishes still runs.
_then_lock = threading.Lock()
_CACHE = rcache_mod.get_cache()  # the worker's (made once; resized and cleared in place)
DEFAULT_TIMEOUT = 10.0
GRACE = 0.25
Runner = Callable[[], Awaitable[Result]]


class Call:
    """One call in flight (or answered from the cache)."""

    __slots__ = ("target", "lend", "timeout", "meta", "id", "ids", "_cache", "_key", "_result",
                 "_future", "_task", "_bridge", "_callbacks", "_runner", "_expired")

    def __init__(self, runner: Runner, *, target: str, timeout: float = DEFAULT_TIMEOUT,
                 cache_key: Any = None, use_cache: rcache_mod.UseCache = True,
                 meta: dict[str, Any] | None = None, reqid: str | None = None,
                 cache: rcache_mod.ResultCache | None = None,
                 ids: tuple[str, int] | None = None, lend: bool = True,
                 bridge: bridge_mod.Bridge | None = None,
                 callbacks: list[Callable[[Result], Any]] | None = None) -> None:
        """``bridge``: the process's (``bridge.get()``), when the caller has it already.
        ``callbacks``: ``then()`` for each, given before the call starts, so they run
        before a thread waiting on it wakes (a ``then()`` after may come too late)."""
        self.target = target
        self.lend = lend  # a pool thread waiting on it lends its place (bridge.Parker)
        self.timeout = timeout
        self.meta = meta if meta is not None else {}
        self.id = reqid
        self._cache = cache if cache is not None else _CACHE
        self._key = cache_key
        self._result: Result | None = None
        self._future: bridge_mod.Handoff | None = None
        self._task: asyncio.Task[Result] | None = None
        self._bridge: bridge_mod.Bridge | None = None
        self._callbacks = callbacks  # then()'s (None until there is one)
        self._expired = False
        hit = self._cache.get(cache_key, use_cache) if cache_key is not None else None
        if hit is not None and isinstance(hit, Result):
            self._result = _from_cache(hit, self.meta, reqid)
            self._callbacks = None
            for callback in callbacks or ():
                self.then(callback)
            return
        self._runner = runner
        # A call that sends no ids itself (a database): numbered all the same.
        self.ids = ids if ids is not None else context.call_ids()
        if bridge is None:
            bridge = bridge_mod.get()
        self._bridge = bridge
        if _thread.get_ident() == bridge.thread_id:  # on the loop
            self._task = bridge.task(self._run)
            self._task.add_done_callback(self._on_task_done)
        else:
            # (Made before start: _run settles it, and may run before start returns.)
            self._future = bridge_mod.Handoff(True)  # settled_by_task (positional: cheaper)
            bridge.start(self._run, self._future)

    def __repr__(self) -> str:
        return f"<Call {self.target} {'done' if self.done() else 'pending'}>"

    async def _run(self) -> Result:
        # A thread waiting on a Handoff (None: a task on the loop) gets the outcome from
        # here, however this ends (``Handoff(settled_by_task=True)``).
        handoff = self._future
        try:
            started = time.time()
            # The call's own timeout: a timer that cancels this task (what asyncio.timeout
            # does, in a third of the instructions: one timer handle, no context manager).
            bridge = self._bridge
            assert bridge is not None
            timer = bridge.loop.call_later(self.timeout, self._expire)
            try:
                try:
                    result = await self._runner()
                finally:
                    timer.cancel()
            except TimeoutError:
                result = self._timed_out()
            except asyncio.CancelledError:
                if not self._expired:
                    raise
                task = asyncio.current_task()
                assert task is not None
                task.uncancel()  # this cancellation was the timeout's, and is handled here
                result = self._timed_out()
            except Exception as exc:  # noqa: BLE001 - a failed call is a result with status 2
                result = Result(status=EXCEPTION, error=exc, target=self.target)
            result.meta = self.meta
            result.id = self.id
            result.ltxid = self.ids[1]
            # (Result.set_cache_key, inline.)  ``started``: when the call began, so an
            # update (setlu) made while it ran still makes a cached entry stale.
            result._cache_key, result._rcache, result.started = self._key, self._cache, started
            if result.status != DONE:
                log.warning("%s: %s [%s %s]", self.target, result.error or "failed", *self.ids)
            elif log.isEnabledFor(logging.DEBUG):
                log.debug("%s: %s in %.1f ms [%s %s]", self.target, result.status_code,
                          (time.time() - started) * 1000, *self.ids)
            with _then_lock:  # against then() in the app's thread: each callback runs once
                self._result = result
                callbacks, self._callbacks = self._callbacks, None
            for callback in callbacks or ():
                try:
                    callback(result)
                except Exception:  # noqa: BLE001 - the app's callback: logged, the result stands
                    # Nobody may wait on this call (a callback set in @app.mounted): without
                    # this the failure would vanish with the task.
                    log.exception("%s: callback %s failed [%s %s]", self.target,
                                  getattr(callback, "__qualname__", repr(callback)), *self.ids)
        except BaseException as exc:
            # A cancellation not the timeout's (the waiter gave up, the loop stops) or a
            # BaseException (KeyboardInterrupt...): to the waiter as it comes, as a done
            # callback would have.
            if handoff is not None:
                if isinstance(exc, asyncio.CancelledError):
                    handoff._finish(None, None, cancelled=True)
                else:
                    handoff._finish(None, exc)
            raise
        if handoff is not None:
            handoff._finish(result, None)  # (set_result's work)
        return result

    def _expire(self) -> None:
        # The task running _run: the on-loop one, or the one the bridge made for the
        # thread's Handoff (set before the task first ran).
        task: asyncio.Future[Any] | None = self._task
        if task is None and self._future is not None:
            task = self._future._task
        if task is not None:
            self._expired = True
            task.cancel()

    def _timed_out(self) -> Result:
        return Result(status=TIMEOUT, target=self.target, error=TimeoutError(
            f"{self.target}: no answer within {self.timeout:g}s"))

    def _on_task_done(self, task: asyncio.Task[Result]) -> None:
        if task.cancelled() and self._result is None:
            self._result = Result(status=TIMEOUT, error=TimeoutError("cancelled"),
                                  target=self.target, meta=self.meta, id=self.id)

    # --- waiting in a thread ------------------------------------------------------------
    def done(self) -> bool:
        return self._result is not None

    def getwait(self, timeout: float | None = None, reraise: bool = False) -> Result:
        """Wait (at most ``timeout`` seconds, default the call's) and return the result;
        ``reraise=True`` raises ``CallError``/``CallTimeout`` when it did not finish."""
        result = self._wait(timeout)
        return result.reraise() if reraise else result

    def wait(self, timeout: float | None = None) -> Result:
        """Wait and raise if the call failed (README: "If failed, exception will be
        raised")."""
        return self._wait(timeout).reraise()

    def getswait(self, timeout: float | None = None, reraise: bool = False) -> Results:
        """As ``getwait``, as a one-result ``Results`` (so code written for ``.map``
        works on one call too)."""
        return Results([self.getwait(timeout, reraise)])

    def _wait(self, timeout: float | None) -> Result:
        result = self._result
        if result is not None:
            future = self._future
            # The loop sets the result before it runs the callbacks and settles the
            # handoff after them: a thread waits for the handoff, so what the callbacks
            # do (a log line, a cache entry) is done when it returns.
            if future is None or future.done() or future.cancelled():
                return result
        if self._future is None:
            raise bridge_mod.WouldBlockLoop(
                "getwait()/wait() would block the event loop (threads=0 or an async view): "
                "use 'await', a callback, or was.promise()")
        # By default a little longer than the call's own timeout, so that the call's
        # timeout (with its clearer message) ends it first.
        limit = self.timeout + GRACE if timeout is None else timeout
        try:
            result = self._future.result(limit, self.lend)
        except TimeoutError:
            self._future.cancel()
            result = Result(status=TIMEOUT, error=TimeoutError(
                f"{self.target}: no answer within {limit:g}s"), target=self.target,
                meta=self.meta, id=self.id, ltxid=self.ids[1])
        except asyncio.CancelledError as exc:
            result = Result(status=TIMEOUT, error=TimeoutError(str(exc) or "cancelled"),
                            target=self.target, meta=self.meta, id=self.id)
        except Exception as exc:  # noqa: BLE001 - e.g. the loop stopped
            result = Result(status=EXCEPTION, error=exc, target=self.target, meta=self.meta,
                            id=self.id)
        self._result = result
        return result

    # --- awaiting on a loop ---------------------------------------------------------------
    def __await__(self) -> Generator[Any, None, Result]:
        return self._await().__await__()

    async def _await(self) -> Result:
        if self._result is not None:
            return self._result
        if self._task is not None:
            running = asyncio.get_running_loop()
            if running is self._task.get_loop():
                return await asyncio.shield(self._task)
            return await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(_await_task(self._task), self._task.get_loop()))
        handoff = self._future
        assert handoff is not None
        # Started from a thread, awaited on some loop of that thread's: woken by the
        # call's own loop when it is done.
        running = asyncio.get_running_loop()
        waiter = running.create_future()

        def wake() -> None:
            running.call_soon_threadsafe(_settle, waiter)

        handoff.on_done(wake)
        await waiter
        return self._wait(0)

    def then(self, callback: Callable[[Result], Any]) -> Call:
        """Call ``callback(result)`` on the loop thread when the call finishes (also for
        a result the cache gave at once: never before the caller's next line)."""
        with _then_lock:
            result = self._result
            if result is None:
                if self._callbacks is None:
                    self._callbacks = [callback]
                else:
                    self._callbacks.append(callback)
                return self
        bridge_mod.get().loop.call_soon_threadsafe(callback, result)
        return self

    # --- caching ---------------------------------------------------------------------------
    def cache(self, timeout: float = 60) -> None:
        """``result.cache(timeout)`` on this call's result (waiting for it if needed)."""
        self._wait(None).cache(timeout)


def _settle(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _await_task(task: asyncio.Task[Result]) -> Result:
    return await asyncio.shield(task)


class MapCall:
    """``.map``: one call per member; ``getswait`` gathers them."""

    def __init__(self, start: Callable[[], list[Call]], *, target: str, cache_key: Any = None,
                 use_cache: rcache_mod.UseCache = True,
                 cache: rcache_mod.ResultCache | None = None) -> None:
        """``start()`` makes the member calls, unless the cache answers first."""
        self.target = target
        self.calls: list[Call] = []
        self._cache = cache if cache is not None else rcache_mod.get_cache()
        self._key = cache_key
        self._results: Results | None = None
        hit = self._cache.get(cache_key, use_cache) if cache_key is not None else None
        if isinstance(hit, Results):
            copy = Results(hit.results)
            copy.cached = True
            self._results = copy
        else:
            self.calls = start()

    def __repr__(self) -> str:
        return f"<MapCall {self.target} x{len(self.calls)}>"

    def getswait(self, timeout: float | None = None, reraise: bool = False) -> Results:
        if self._results is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            out = []
            for call in self.calls:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                out.append(call.getwait(left))
            results = Results(out)
            results.set_cache_key(self._key, self._cache, min(
                (r.started for r in out), default=time.time()))
            self._results = results
        return self._results.reraise() if reraise else self._results

    getwait = getswait

    def wait(self, timeout: float | None = None) -> Results:
        return self.getswait(timeout, reraise=True)

    def __await__(self) -> Generator[Any, None, Results]:
        return self._await().__await__()

    async def _await(self) -> Results:
        if self._results is None:
            out = list(await asyncio.gather(*(c._await() for c in self.calls)))
            results = Results(out)
            results.set_cache_key(self._key, self._cache, min(
                (r.started for r in out), default=time.time()))
            self._results = results
        return self._results

    def cache(self, timeout: float = 60) -> None:
        self.getswait().cache(timeout)


def _from_cache(hit: Result, meta: dict[str, Any], reqid: str | None) -> Result:
    """A cached result, as its own object (meta and id are the new call's)."""
    copy = Result(status=hit.status, status_code=hit.status_code, reason=hit.reason,
                  headers=hit.headers, content=hit.content, data=hit.data, error=hit.error,
                  meta=meta, id=reqid, target=hit.target, ltxid=hit.ltxid)
    copy.cached = True
    return copy

