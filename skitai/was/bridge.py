"""Running ``was`` calls on an event loop while the app's thread waits.

Theory.  Every backend client (asyncpg, redis.asyncio, the upstream HTTP pool) lives on
one event loop per process: the web worker's own loop, or, outside a worker (a script,
a test, ``python app.py`` before the server starts), a private loop in a daemon thread
started on first use.  An app thread starts a call with ``start(factory)``: the
coroutine is queued and the loop is woken once for however many calls were queued
before it ran (one ``call_soon_threadsafe``, one self-pipe write, for the three calls a
view starts before its first ``getwait``), so calls started before the first wait run
concurrently.  The thread then waits on a ``Handoff``: one lock, released by the loop
when the outcome is in (a ``concurrent.futures.Future`` costs four times as many
instructions per call, in its ``Condition``).

A thread of the WSGI pool that waits lends its place in the pool meanwhile: the pool
registers itself as the thread's ``Parker`` (``set_parker``), and ``Handoff.result``
calls ``park()`` before it blocks and ``unpark()`` after (see ``worker/pool.py``).

On the loop thread itself (``threads=0``, an ``async def`` view, a callback) a call
becomes a task at once and is awaited; blocking there would stop the server, so a
blocking wait on the loop thread raises ``WouldBlockLoop`` instead.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

Factory = Callable[[], Coroutine[Any, Any, Any]]


class Parker(Protocol):
    """What a thread's pool does while the thread waits on the loop."""

    def park(self) -> None: ...

    def unpark(self) -> None: ...


_threads = threading.local()


def set_parker(parker: Parker | None) -> None:
    """For the calling thread: ``parker`` is told of every blocking wait."""
    _threads.parker = parker


class WouldBlockLoop(RuntimeError):
    """A blocking wait was asked for on the event loop's own thread."""


class Handoff:
    """A call's outcome, passed from the loop to the one thread that waits for it.

    The lock is taken when the handoff is made and released when the outcome is set,
    so ``result(timeout)`` is one ``lock.acquire``.  ``cancel()`` (the waiter gave up)
    cancels the loop's task.  ``notify`` runs a function (on the loop) when done.
    """

    __slots__ = ("_lock", "_value", "_error", "_done", "_cancelled", "_task", "_loop",
                 "_notify", "_settled_by_task")

    def __init__(self, settled_by_task: bool = False) -> None:
        """``settled_by_task``: the coroutine it is given to sets the outcome itself
        (``set_result``/``set_exception``, however it ends once started), so no done
        callback relays it: a loop turn less per call, and the waiter wakes a turn
        earlier.  (A task cancelled before it started is relayed all the same.)"""
        self._settled_by_task = settled_by_task
        self._lock = _thread.allocate_lock()
        self._lock.acquire()
        self._value: Any = None
        self._error: BaseException | None = None
        self._done = False
        self._cancelled = False
        self._task: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._notify: Callable[[], Any] | None = None

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancelled

    def result(self, timeout: float | None = None, lend: bool = True) -> Any:
        """The value (or raise the error); ``TimeoutError`` when not done in time,
        ``asyncio.CancelledError`` when cancelled.  ``lend``: a pool thread lends its
        place while it waits (``Parker``)."""
        if not self._done:
            parker: Parker | None = getattr(_threads, "parker", None) if lend else None
            if parker is not None:
                parker.park()
            try:
                acquired = self._lock.acquire(True, -1 if timeout is None else max(timeout, 0.0))
            finally:
                if parker is not None:
                    parker.unpark()
            if not acquired:
                if not self._done:
                    raise TimeoutError
            else:
                self._lock.release()  # done: later result() calls pass at once
        if self._cancelled:
            raise asyncio.CancelledError
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> bool:
        """From the waiting thread: stop waiting; the loop's task is cancelled (it ends
        as cancelled, or with the outcome it had just reached: this waiter reads
        neither)."""
        if self._done:
            return False
        # Only the loop writes the outcome (``_finish``): the waiter only says it gave
        # up, so the two never race on the outcome and need no lock between them.
        self._cancelled = True
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._cancel_task)
            except RuntimeError:  # the loop is closed
                pass
        return True

    def _cancel_task(self) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            # A task cancelled before its first step never runs its coroutine, which so
            # never settles the handoff: relayed here (at most twice: relay is idempotent).
            task.add_done_callback(self.relay)

    def set_result(self, value: Any) -> None:
        self._finish(value, None)

    def set_exception(self, error: BaseException) -> None:
        self._finish(None, error)

    def _finish(self, value: Any, error: BaseException | None, cancelled: bool = False) -> None:
        # On the loop (or in the starting thread before the loop has the handoff): the
        # outcome's only writer, once; the lock's release publishes it to the waiter.
        if self._done:
            return
        self._value, self._error = value, error
        if cancelled:
            self._cancelled = True
        self._done = True
        self._lock.release()
        notify = self._notify
        if notify is not None:
            notify()

    def on_done(self, notify: Callable[[], Any]) -> None:
        """``notify()`` once done (now, if it is)."""
        self._notify = notify
        if self._done:
            notify()

    def relay(self, task: asyncio.Future[Any]) -> None:
        """A loop task's done callback: its outcome, to the waiter."""
        try:
            value = task.result()
        except asyncio.CancelledError:
            self._finish(None, None, cancelled=True)
        except BaseException as exc:  # noqa: BLE001 - the waiter gets it
            self._finish(None, exc)
        else:
            self._finish(value, None)


class Bridge:
    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int) -> None:
        self.loop = loop
        self.thread_id = thread_id
        self._queue: collections.deque[tuple[Factory, Handoff, contextvars.Context]] = \
            collections.deque()
        self._scheduled = False

    def on_loop(self) -> bool:
        return threading.get_ident() == self.thread_id

    def start(self, factory: Factory, fut: Handoff | None = None) -> Handoff:
        """From any thread but the loop's: run ``factory()`` on the loop; its outcome
        goes to ``fut`` (a new ``Handoff`` by default), which is returned."""
        if fut is None:
            fut = Handoff()
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
        """On the loop thread: a task now (named, as ``_drain``'s are)."""
        loop = self.loop
        if loop.get_task_factory() is None:
            return asyncio.Task(factory(), loop=loop, name=TASK_NAME)
        return loop.create_task(factory())

    def _drain(self) -> None:
        self._scheduled = False
        queue = self._queue
        loop = self.loop
        while queue:
            factory, fut, context = queue.popleft()
            if fut._cancelled:  # the waiter gave up before the loop got to it
                fut._finish(None, None, cancelled=True)  # (for an on_done() that waits)
                continue
            try:
                if loop.get_task_factory() is None:
                    # loop.create_task's work, with a name: a Task named by default
                    # formats "Task-<n>" (printf) for every call.
                    task = asyncio.Task(context.run(factory), loop=loop, context=context,
                                        name=TASK_NAME)
                else:
                    task = loop.create_task(context.run(factory), context=context)
            except BaseException as exc:  # noqa: BLE001 - the caller gets it
                fut._finish(None, exc)
                continue
            fut._task, fut._loop = task, loop
            if not fut._settled_by_task:
                task.add_done_callback(fut.relay)
            if fut._cancelled:  # the waiter gave up while the task was being made
                fut._cancel_task()


# --- the process's bridge --------------------------------------------------------------------
TASK_NAME = "skitai.was"  # the tasks the bridge makes for calls from threads
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
