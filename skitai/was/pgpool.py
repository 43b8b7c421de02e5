"""A member's PostgreSQL connections, on the worker's loop: idle ones on a stack.

Why not ``asyncpg.Pool``: measured with callgrind (``SELECT 1`` from a pool thread), its
``acquire(timeout=...)``/``release`` pair costs about 150,000 instructions a query, as
much as the query itself and the thread hand-off together: ``wait_for`` around the
acquire, a ``shield`` (a Task) around the release, a timeout and a reset coroutine
in it.  ``was`` runs one statement per call on a connection it holds for that call only,
so the pool it needs is small: ``acquire`` pops an idle connection (no await when
one is there), ``release`` pushes it back or hands it to the oldest waiter, both
plain functions.  The connections themselves are asyncpg's (``asyncpg.connect``), with
its prepared-statement cache.

A connection goes back only in a known state: idle, not in a transaction (a ``BEGIN``
left open is rolled back by the caller, ``Pool.discard`` drops a connection whose
statement was interrupted).  When every connection is busy a caller waits at most
``wait`` seconds, then ``PoolExhausted``.  A connection left idle for ``IDLE_MAX``
seconds (at the bottom of the stack, after a burst) is closed, as asyncpg's pool does.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import Any

IDLE_MAX = 300.0


class PoolExhausted(ConnectionError):
    """Every connection of a member's pool stayed busy."""


class Pool:
    def __init__(self, connect: Callable[[], Awaitable[Any]], max_size: int, label: str) -> None:
        self._connect = connect
        self.max_size = max_size
        self.label = label
        # A stack of (connection, idle since): the connection used last is warm.
        self._idle: list[tuple[Any, float]] = []
        self._size = 0  # open connections, and those being opened
        # A waiter gets a connection, or None: "a slot is free, open one".
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
        conn = self.take()
        if conn is not None:
            return conn
        if self._closed:
            raise ConnectionAbortedError(f"{self.label}: the pool is closed")
        if self._size >= self.max_size:
            conn = await self._wait(wait)
            if conn is not None:
                return conn
        else:
            self._size += 1
        try:
            return await self._connect()
        except BaseException:
            self._size -= 1
            self._free_slot()
            raise

    async def _wait(self, wait: float) -> Any:
        """A connection another caller releases, or None when one closed (the slot is
        this caller's: ``_size`` already counts it)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            async with asyncio.timeout(wait):
                return await fut
        except TimeoutError:
            raise PoolExhausted(f"{self.label}: all {self.max_size} connections busy for "
                                f"{wait:g}s") from None
        except BaseException:
            # Given a connection (or a slot) just as the wait ended: give it back.
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                conn = fut.result()
                if conn is None:
                    self._size -= 1
                    self._free_slot()
                else:
                    self.release(conn)
            raise
        finally:
            if not fut.done():
                fut.cancel()

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
        self._free_slot()

    def _free_slot(self) -> None:
        """A connection went away: a waiter may open one in its place."""
        waiters = self._waiters
        while waiters and not self._closed:
            fut = waiters.popleft()
            if not fut.done():
                self._size += 1
                fut.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = [c for c, _ in self._idle], []
        self._size -= len(idle)
        for fut in self._waiters:
            if not fut.done():
                fut.set_exception(ConnectionAbortedError(f"{self.label}: the pool is closed"))
                fut.exception()  # retrieved: the waiter raises it
        self._waiters.clear()
        for conn in idle:
            await _close(conn)


async def _close(conn: Any) -> None:
    try:
        await conn.close(timeout=2)
    except Exception:  # noqa: BLE001 - closing anyway
        conn.terminate()
