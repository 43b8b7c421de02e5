"""``was.postgresql``: a pool of asyncpg connections per member, on the worker's loop.

Each member (host, port, database, user) gets one pool per worker (``pgpool.Pool``),
made at its first call and kept for the worker's life.  A query runs on a connection
taken from the pool and given back after it, idle: a transaction it left open is rolled
back first, and a connection whose statement was interrupted (a timeout, a lost
connection) is dropped.  When every connection stays busy for ``POOL_WAIT`` seconds the
call fails with ``PoolExhausted`` rather than queue without end.  Rows come back as
``sql.Row``.
"""

from __future__ import annotations

import asyncio
import importlib
import operator
from typing import Any

from skitai.config.aliases import Member
from skitai.was import sql
from skitai.was.pgpool import Pool, PoolExhausted
from skitai.was.result import DONE, Result

__all__ = ["Driver", "PoolExhausted"]

POOL_MIN = 1  # unused: connections open at their first use (kept for code that sets it)
POOL_MAX = 16
POOL_WAIT = 5.0
_NO_VALUES: list[Any] = []  # never changed: passed as *values
_items = operator.methodcaller("items")
_new = object.__new__


class Driver:
    name = "postgresql"

    def __init__(self) -> None:
        self._pools: dict[Member, Pool] = {}
        # The same member (an alias's) comes back on every call: found by identity, as
        # hashing a Member hashes all its fields; with its results' target.  The entry
        # keeps the member alive, so its id is not reused while it is here.
        self._by_id: dict[int, tuple[Member, Pool, str]] = {}
        self._asyncpg: Any = None

    def pool(self, member: Member) -> Pool:
        return self._slot(member)[1]

    def _slot(self, member: Member) -> tuple[Member, Pool, str]:
        seen = self._by_id.get(id(member))
        if seen is not None and seen[0] is member:
            return seen
        found = self._pools.get(member)
        if found is None:
            found = self._pools[member] = Pool(lambda: self._connect(member), POOL_MAX,
                                               member.label)
        slot = (member, found, f"postgresql://{member.label}/{member.database or ''}")
        if len(self._by_id) < 1024:  # bounded: a server written in a call is a new member
            self._by_id[id(member)] = slot
        return slot

    async def _connect(self, member: Member) -> Any:
        asyncpg = self._asyncpg
        if asyncpg is None:
            asyncpg = self._asyncpg = importlib.import_module("asyncpg")  # untyped: Any
        return await asyncpg.connect(
            host=member.host or None, port=member.port or None,
            user=member.user or "postgres", password=member.password,
            database=member.database or member.user or "postgres", ssl=await _ssl(member))

    async def execute(self, member: Member, sql_text: str, params: sql.Params) -> Result:
        _, pool, target = self._slot(member)
        if params is None:  # (to_numeric's first line: SQL without parameters as is)
            text, values = sql_text, _NO_VALUES
        else:
            text, values = sql.to_numeric(sql_text, params)
        conn = pool.take()
        if conn is None:
            conn = await pool.acquire(POOL_WAIT)
        try:
            if not values and sql.is_script(text):
                status = await conn.execute(text)
                rows: list[sql.Row] = []
            else:
                records = await conn.fetch(text, *values)
                rows = list(map(sql.Row, map(_items, records)))  # (no Python frame)
                status = "OK"
            if conn.is_in_transaction():
                # A BEGIN never committed: its work must not reach the next call.
                await conn.execute("ROLLBACK")
        except BaseException as exc:
            if isinstance(exc, self._asyncpg.PostgresError) and not conn.is_in_transaction():
                pool.release(conn)  # the server said no; the connection is idle again
            else:
                pool.discard(conn)
            raise
        pool.release(conn)
        # Result(...), without type.__call__ packing the keywords into a dict.
        result: Result = _new(Result)
        Result.__init__(result, status=DONE, status_code=200, reason=status, data=rows, target=target)
        return result

    def stats(self) -> dict[str, Any]:
        return {m.label: {"size": p.get_size(), "idle": p.get_idle_size(), "max": POOL_MAX}
                for m, p in self._pools.items()}

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        self._by_id.clear()
        for pool in pools:
            await pool.close()


_ssl_context: Any = None


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
