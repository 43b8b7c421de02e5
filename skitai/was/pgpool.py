"""A member's PostgreSQL connections, on the worker's loop: idle ones on a stack.

Why not ``asyncpg.Pool``: measured with callgrind (``SELECT 1`` from a pool thread), its
``acquire(timeout=...)``/``release`` pair costs about 150,000 instructions a query, as
much as the query itself and the thread hand-off together: ``wait_for`` around the
acquire, a ``shield`` (a Task) around the release, a timeout and a reset coroutine
in it.  ``was`` runs one statement per call on a connection it holds for that call only,
so the pool it needs is small: ``take`` pops an idle connection (no coroutine when one
is there), ``release`` pushes it back or hands it to the oldest waiter, both plain
functions.  The connections themselves are asyncpg's (``asyncpg.connect``), with its
prepared-statement cache.

A connection goes back only in a known state: idle, not in a transaction (a ``BEGIN``
left open is rolled back by the caller, ``Pool.discard`` drops a connection whose
statement was interrupted).  When no connection comes free within ``wait`` seconds, and
none is being opened, a caller gets ``PoolExhausted`` (an open is bounded by its own
connect timeout and the call's).  A connection left idle for ``IDLE_MAX`` seconds (at
the bottom of the stack, after a burst) is closed, as asyncpg's pool does.

Opening connections.  A caller that finds no idle connection queues as a waiter, and
the pool opens connections for its waiters, at most ``OPENING_MAX`` at a time (as
HikariCP's single "connection adder" thread does): each one, once open, goes to the
oldest waiter (``release``), whichever came first, a new connection or one a call gave
back.  A burst on a cold pool is served by the connections as they arrive.  It used to
open all ``max_size`` at once, and their asyncpg handshakes (startup, authentication,
settings: ~0.7 ms of the loop's CPU each) ran in the same loop turns: the loop was busy
4-7 ms at a stretch in ``test_loop``'s cold burst of a hundred calls, 2-3 ms since (as
with a warm pool).  A failed open, with no other connection open or opening, fails
every waiter with its error (nothing else would serve them: the server is down or
refuses us), at once, not each after an attempt of its own or its ``wait``.  With
connections open, the waiters stay for them, and one that still times out is told the
open's error too.  The next caller tries again: nothing to reset when the server is back.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import Any

IDLE_MAX = 300.0
# Connections being opened at once (each one's handshake runs on the loop).
OPENING_MAX = 2


class PoolExhausted(ConnectionError):
    """No connection of a member's pool came free (or opened) in time."""


class Pool:
    def __init__(self, connect: Callable[[], Awaitable[Any]], max_size: int, label: str) -> None:
        self._connect = connect
        self.max_size = max_size
        self.label = label
        # A stack of (connection, idle since): the connection used last is warm.
        self._idle: list[tuple[Any, float]] = []
        self._size = 0  # open connections, and those being opened
        self._opening = 0  # connections being opened (counted in _size too)
        self._openers: set[asyncio.Task[None]] = set()  # (referenced until done)
        self._open_error: Exception | None = None  # the last open's, if it failed
        # Callers waiting for a connection (some may have given up: done).
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()

    def get_size(self) -> int:
        return self._size

    def get_idle_size(self) -> int:
        return len(self._idle)

    def take(self) -> Any:
        """An idle connection now, or None (then ``await acquire()``): the usual case
        without a coroutine."""
        idle = self._idle
        while idle:
            conn = idle.pop()[0]
            if not conn.is_closed():
                return conn
            self._size -= 1
        return None

    async def acquire(self, wait: float) -> Any:
        """The first connection free: an idle one, one a call releases, or one opened
        for this caller's turn in the queue; ``PoolExhausted`` after ``wait`` seconds
        with none, unless one is being opened (``_expire``)."""
        conn = self.take()
        if conn is not None:
            return conn
        if self._closed:
            raise ConnectionAbortedError(f"{self.label}: the pool is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(fut)
        self._grow()
        # The wait's timer, in a cell: ``_expire`` may set another.
        timer: list[asyncio.TimerHandle] = []
        timer.append(loop.call_later(wait, self._expire, fut, wait, timer))
        try:
            return await fut
        except BaseException:
            # Given a connection just as the wait ended: give it back.  (An open's error
            # set then is retrieved here, not logged as never retrieved.)
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release(fut.result())
            raise
        finally:
            timer[0].cancel()
            if not fut.done():
                fut.cancel()

    def _expire(self, fut: asyncio.Future[Any], wait: float,
                timer: list[asyncio.TimerHandle]) -> None:
        """A waiter's ``wait`` is over: ``PoolExhausted``, unless a connection is being
        opened.  An open is bounded by the connect's own timeout and the call's, not by
        the pool's ``wait`` (a slow handshake is not an exhausted pool; it was not before
        the opens were queued either): the waiter stays, and is looked at again."""
        if fut.done():
            return
        if self._opening:
            timer[0] = asyncio.get_running_loop().call_later(wait, self._expire, fut, wait,
                                                             timer)
            return
        fut.set_exception(self._exhausted(wait))

    def _exhausted(self, wait: float) -> PoolExhausted:
        if self._size >= self.max_size:
            return PoolExhausted(f"{self.label}: all {self.max_size} connections busy for "
                                 f"{wait:g}s")
        why = (f"no connection free in {wait:g}s ({self._size} of {self.max_size} open, "
               f"busy, none opening)")
        error = self._open_error
        if error is not None:
            why += f"; the last open failed: {type(error).__name__}: {error}"
        return PoolExhausted(f"{self.label}: {why}")

    def _grow(self) -> None:
        """Open connections for the waiters not yet served, ``OPENING_MAX`` at a time."""
        while (self._opening < OPENING_MAX and self._size < self.max_size
               and not self._closed
               and sum(not f.done() for f in self._waiters) > self._opening):
            self._size += 1
            self._opening += 1
            task = asyncio.get_running_loop().create_task(self._open())
            self._openers.add(task)
            task.add_done_callback(self._openers.discard)

    async def _open(self) -> None:
        try:
            conn = await self._connect()
        except Exception as exc:
            self._opening -= 1
            self._size -= 1
            self._open_error = exc
            if self._size == 0:
                # Nothing open or opening: no waiter would be served.  (Each one raises
                # this same exception, as awaiting one future from several tasks does.)
                self._fail_waiters(exc)
            return
        except BaseException:  # cancelled: the pool is closing
            self._opening -= 1
            self._size -= 1
            raise
        self._opening -= 1
        self._open_error = None
        if self._closed:
            self._size -= 1
            await _close(conn)
            return
        self.release(conn)  # to the oldest waiter, or idle
        self._grow()

    def _fail_waiters(self, exc: BaseException) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def release(self, conn: Any) -> None:
        """Back to the pool: an idle connection outside a transaction (or closed)."""
        if self._closed or conn.is_closed():
            self.discard(conn)
            return
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        idle = self._idle
        now = time.monotonic()
        idle.append((conn, now))
        if idle[0][1] < now - IDLE_MAX:  # the oldest has not been needed for a while
            old = idle.pop(0)[0]
            self._size -= 1
            # (released from the call's coroutine: on the loop)
            task = asyncio.get_running_loop().create_task(_close(old))
            self._closing.add(task)  # referenced until done
            task.add_done_callback(self._closing.discard)

    def discard(self, conn: Any) -> None:
        """Drop a connection in an unknown state (its statement was interrupted)."""
        conn.terminate()
        self._size -= 1
        if self._waiters:  # a waiter may get a new one in its place
            self._grow()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = [c for c, _ in self._idle], []
        self._size -= len(idle)
        self._fail_waiters(ConnectionAbortedError(f"{self.label}: the pool is closed"))
        openers = list(self._openers)
        for task in openers:
            task.cancel()
        await asyncio.gather(*openers, return_exceptions=True)
        for conn in idle:
            await _close(conn)


async def _close(conn: Any) -> None:
    try:
        await conn.close(timeout=2)
    except Exception:  # noqa: BLE001 - closing anyway
        conn.terminate()
