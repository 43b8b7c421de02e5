"""Running ``was`` calls on an event loop while the app's thread waits.

Theory.  Every backend client (asyncpg, redis.asyncio, the upstream HTTP pool) lives on
one event loop per process: the web worker's own loop, or, outside a worker (a script,
a test, ``python app.py`` before the server starts), a private loop in a daemon thread
started on first use.  An app thread starts a call with ``start(factory)``: the
coroutine is queued and the loop is woken once for however many calls were queued
before it ran (one ``call_soon_threadsafe``, one self-pipe write, for the three calls a
view starts before its first ``getwait``), so calls started before the first wait run
concurrently.  The thread then waits on a ``concurrent.futures.Future``.

On the loop thread itself (``threads=0``, an ``async def`` view, a callback) a call
becomes a task at once and is awaited; blocking there would stop the server, so a
blocking wait on the loop thread raises ``WouldBlockLoop`` instead.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any

Factory = Callable[[], Coroutine[Any, Any, Any]]


class WouldBlockLoop(RuntimeError):
    """A blocking wait was asked for on the event loop's own thread."""


class Bridge:
    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int) -> None:
        self.loop = loop
        self.thread_id = thread_id
        self._queue: collections.deque[
            tuple[Factory, concurrent.futures.Future[Any], contextvars.Context]] = \
            collections.deque()
        self._scheduled = False

    def on_loop(self) -> bool:
        return threading.get_ident() == self.thread_id

    def start(self, factory: Factory) -> concurrent.futures.Future[Any]:
        """From any thread but the loop's: run ``factory()`` on the loop."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        # The caller's context (its request, for was.*) goes with the call: drained
        # together, calls from several threads each run in their own.
        self._queue.append((factory, fut, contextvars.copy_context()))
        if not self._scheduled:
            # A race here only schedules one drain too many, which finds nothing.
            self._scheduled = True
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed (the worker is stopping)
                self._scheduled = False
                self._queue.clear()
                fut.set_exception(ConnectionAbortedError("the server's event loop has stopped"))
        return fut

    def task(self, factory: Factory) -> asyncio.Task[Any]:
        """On the loop thread: a task now."""
        return self.loop.create_task(factory())

    def _drain(self) -> None:
        self._scheduled = False
        queue = self._queue
        loop = self.loop
        while queue:
            factory, fut, context = queue.popleft()
            if fut.cancelled():  # the waiter gave up before the loop got to it
                continue
            try:
                task = loop.create_task(context.run(factory), context=context)
            except BaseException as exc:  # noqa: BLE001 - the caller gets it
                fut.set_exception(exc)
                continue
            task.add_done_callback(_Relay(fut))
            fut.add_done_callback(_Canceller(loop, task))


class _Relay:
    """Copies a loop task's outcome into the waiting thread's future (and lets that
    future cancel the task)."""

    __slots__ = ("fut",)

    def __init__(self, fut: concurrent.futures.Future[Any]) -> None:
        self.fut = fut

    def __call__(self, task: asyncio.Future[Any]) -> None:
        fut = self.fut
        if fut.done():
            return
        try:
            if task.cancelled():
                fut.cancel()
            elif (exc := task.exception()) is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(task.result())
        except concurrent.futures.InvalidStateError:
            pass  # the waiter cancelled it from its thread meanwhile


class _Canceller:
    """A waiter that gave up (``fut.cancel()``) cancels the loop task."""

    __slots__ = ("loop", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Future[Any]) -> None:
        self.loop = loop
        self.task = task

    def __call__(self, fut: concurrent.futures.Future[Any]) -> None:
        if fut.cancelled() and not self.task.done():
            try:
                self.loop.call_soon_threadsafe(self.task.cancel)
            except RuntimeError:
                pass


# --- the process's bridge --------------------------------------------------------------------
_lock = threading.Lock()
_bridge: Bridge | None = None
_own_thread: threading.Thread | None = None


def attach(loop: asyncio.AbstractEventLoop) -> Bridge:
    """``was`` calls run on ``loop``, which this thread runs (the web worker's main
    thread calls it before serving)."""
    global _bridge
    with _lock:
        _bridge = Bridge(loop, threading.get_ident())
        return _bridge


def detach() -> None:
    """Forget the loop (tests; a worker that stopped).  A private loop keeps running."""
    global _bridge
    with _lock:
        _bridge = None


def get() -> Bridge:
    """The bridge to this process's loop; outside a worker, a private loop thread."""
    bridge = _bridge
    if bridge is not None and not bridge.loop.is_closed():
        return bridge
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        # Called from a coroutine on a loop nobody attached (a test, an app's own loop):
        # that loop is the one to use.
        return attach(running)
    return _private()


def _private() -> Bridge:
    global _bridge, _own_thread
    with _lock:
        if _bridge is not None and not _bridge.loop.is_closed():
            return _bridge
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: list[int] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            holder.append(threading.get_ident())
            ready.set()
            loop.run_forever()

        _own_thread = threading.Thread(target=run, name="skitai-was-loop", daemon=True)
        _own_thread.start()
        ready.wait()
        _bridge = Bridge(loop, holder[0])
        return _bridge
