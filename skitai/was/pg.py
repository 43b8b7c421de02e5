"""``was.postgresql``: an asyncpg pool per member, on the worker's loop.

Each member (host, port, database, user) gets one pool per worker, made at its first
call and kept for the worker's life.  A connection returns to the pool as it is, an
open transaction rolled back (``_reset``).  A query runs on a connection from the pool; when
every connection stays busy for ``POOL_WAIT`` seconds the call fails with
``PoolExhausted`` rather than queue without end.  Rows come back as ``sql.Row``.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from skitai.config.aliases import Member
from skitai.was import sql
from skitai.was.result import DONE, Result

POOL_MIN = 1
POOL_MAX = 16
POOL_WAIT = 5.0


class PoolExhausted(ConnectionError):
    """Every connection of a member's pool stayed busy."""


class Driver:
    name = "postgresql"

    def __init__(self) -> None:
        self._pools: dict[Member, Any] = {}
        self._making: dict[Member, asyncio.Future[Any]] = {}

    async def pool(self, member: Member) -> Any:
        found = self._pools.get(member)
        if found is not None:
            return found
        making = self._making.get(member)
        if making is not None:
            return await asyncio.shield(making)
        asyncpg: Any = importlib.import_module("asyncpg")  # untyped: used through Any
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._making[member] = fut
        try:
            pool = await asyncpg.create_pool(
                host=member.host or None, port=member.port or None,
                user=member.user or "postgres", password=member.password,
                database=member.database or member.user or "postgres",
                min_size=POOL_MIN, max_size=POOL_MAX, ssl=await _ssl(member), reset=_reset)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: a concurrent waiter re-raises it, nobody else logs
            raise
        finally:
            del self._making[member]
        self._pools[member] = pool
        fut.set_result(pool)
        return pool

    async def execute(self, member: Member, sql_text: str, params: sql.Params) -> Result:
        pool = await self.pool(member)
        text, values = sql.to_numeric(sql_text, params)
        try:
            conn = await pool.acquire(timeout=POOL_WAIT)
        except TimeoutError:
            raise PoolExhausted(f"{member.label}: all {POOL_MAX} connections busy for "
                                f"{POOL_WAIT:g}s") from None
        try:
            if not values and sql.is_script(text):
                status = await conn.execute(text)
                rows: list[sql.Row] = []
            else:
                records = await conn.fetch(text, *values)
                rows = [sql.Row(r.items()) for r in records]
                status = "OK"
        finally:
            await pool.release(conn)
        return Result(status=DONE, status_code=200, reason=status, data=rows,
                      target=f"postgresql://{member.label}/{member.database or ''}")

    def stats(self) -> dict[str, Any]:
        return {m.label: {"size": p.get_size(), "idle": p.get_idle_size(), "max": POOL_MAX}
                for m, p in self._pools.items()}

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()


_ssl_context: Any = None


async def _reset(conn: Any) -> None:
    """Nothing more than asyncpg itself does with a custom reset: it clears listeners and
    rolls back an open transaction (logging it).  Its default reset query costs a round
    trip per call, a second query for every ``SELECT 1``; was runs one statement per
    call, so a ``BEGIN`` left open is the state that could leak, and it does not."""


async def _ssl(member: Member) -> Any:
    """TLS only for an alias that asks for it (``ssl=True``).  asyncpg's default
    ("prefer") builds a verifying context per new connection, reading the CA bundle from
    disk on the loop thread: tens of milliseconds of a stalled loop each time."""
    global _ssl_context
    if not member.ssl:
        return False
    if _ssl_context is None:
        import ssl

        _ssl_context = await asyncio.get_running_loop().run_in_executor(
            None, ssl.create_default_context)
    return _ssl_context
