"""``was.postgresql``, ``was.sqlite3``, ``was.redis``, ``was.mongodb`` and
``was.backend``: a proxy per call site whose methods start calls.

::

    was.backend("@pg").execute("SELECT name FROM t WHERE id = %s", (3,)).getwait(5).data
    was.redis("@rd").set("k", "v").wait(5)
    was.postgresql.map("@shards").execute("SELECT count(*) AS n FROM t").getswait(5)

``was.backend`` picks the engine from the alias, so SQLite in development and
PostgreSQL in production differ by one ``skitai.alias()`` line.  Without ``.lb``/``.map``
an alias with several members is used as ``.lb``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from skitai.was import bridge, handle, rcache, sql, targets
from skitai.was.result import Result

# Drivers hold connections bound to one event loop: one set per loop (a worker has one).
_drivers: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def driver(kind: str) -> Any:
    slot = (kind, id(bridge.get().loop))
    found = _drivers.get(slot)
    if found is None:
        with _lock:  # app threads race here: one driver (one set of pools) per engine
            found = _drivers.get(slot)
            if found is None:
                found = _drivers[slot] = _make(kind)
    return found


def _make(kind: str) -> Any:
    if kind == "postgresql":
        from skitai.was import pg

        return pg.Driver()
    if kind == "sqlite3":
        from skitai.was import sqlite

        return sqlite.Driver()
    if kind == "redis":
        from skitai.was import redisdb

        return redisdb.Driver()
    if kind == "mongodb":
        from skitai.was import mongo

        return mongo.Driver()
    raise TypeError(f"no database driver for {kind!r}")


def drivers() -> dict[str, Any]:
    """This loop's drivers by engine (for ``was.status()``)."""
    here = id(bridge.get().loop)
    return {kind: d for (kind, loop_id), d in _drivers.items() if loop_id == here}


def _connect_errors(kind: str) -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError,)
    if kind == "redis":
        import redis.exceptions

        errors += (redis.exceptions.ConnectionError,)
    return errors


class _Proxy:
    """What ``was.<engine>(server, ...)`` returns: starts calls on its target."""

    def __init__(self, target: targets.Target, mode: str, *, use_cache: rcache.UseCache,
                 timeout: float, meta: dict[str, Any] | None,
                 callback: Callable[[Result], Any] | None) -> None:
        self._target = target
        self._mode = mode
        self._use_cache = rcache.check_use_cache(use_cache)
        self._timeout = timeout
        self._meta = meta
        self._callback = callback
        self._driver = driver(target.kind)

    def _start(self, op: str, run: Callable[[Any], Any], key_args: tuple[Any, ...]
               ) -> handle.Call | handle.MapCall:
        target = self._target
        key = (target.kind, target.members, self._mode, op, repr(key_args))
        label = f"{target.name} {op}"
        errors = _connect_errors(target.kind)
        if self._mode == "map":
            return handle.MapCall(
                lambda: [self._call(functools.partial(run, m), label, None)
                         for m in target.members],
                target=label, cache_key=key, use_cache=self._use_cache)

        async def one() -> Result:
            result: Result = await targets.balancer.one(target.members, run, errors)
            return result

        return self._call(one, label, key)

    def _call(self, runner: Callable[[], Any], label: str, key: Any) -> handle.Call:
        # A database call keeps its thread's place while it waits (lend=False): a database
        # serves best at a concurrency near its cores, and a worker's threads already
        # bound its queries; lent places raised it 4x (16 pool connections a worker) and
        # SELECT 1 at -c64 lost 10-25% of its req/s.  An HTTP member's wait is latency.
        call = handle.Call(runner, target=label, timeout=self._timeout, cache_key=key,
                           use_cache=self._use_cache, meta=dict(self._meta or {}), lend=False)
        if self._callback is not None:
            call.then(self._callback)
        return call


class SqlProxy(_Proxy):
    """PostgreSQL and SQLite: ``execute(sql, params)``."""

    def execute(self, statement: Any, params: sql.Params = None) -> handle.Call | handle.MapCall:
        """``statement`` is SQL text, or a Django QuerySet (select only, README "Using
        Django Models"): its SQL and parameters run here instead of through Django."""
        if not isinstance(statement, str):
            if params is not None:
                raise TypeError("a QuerySet brings its own parameters: execute(queryset)")
            statement, params = sql.from_queryset(statement)
        drv = self._driver
        return self._start("execute", lambda m: drv.execute(m, statement, params),
                           (statement, params))

    excute = execute  # the seed README's spelling
    query = execute


class RedisProxy(_Proxy):
    """redis-py's command names as methods: ``set``, ``get``, ``hgetall``..."""

    def __getattr__(self, name: str) -> Callable[..., handle.Call | handle.MapCall]:
        self._driver.check_command(name)
        drv = self._driver

        def command(*args: Any, **kwargs: Any) -> handle.Call | handle.MapCall:
            return self._start(name, lambda m: drv.command(m, name, args, kwargs),
                               (args, sorted(kwargs.items())))

        return command


class MongoProxy(_Proxy):
    """``find(collection, filter)``, ``findone``, ``insert``, ``update``, ``delete``,
    ``count`` and any collection method by name."""

    def __getattr__(self, name: str) -> Callable[..., handle.Call | handle.MapCall]:
        if name.startswith("_"):
            raise AttributeError(name)
        drv = self._driver
        database = self._database

        def command(collection: str, *args: Any, **kwargs: Any) -> handle.Call | handle.MapCall:
            return self._start(name, lambda m: drv.command(m, database, collection, name,
                                                           args, kwargs),
                               (database, collection, args, sorted(kwargs.items())))

        return command

    _database: str | None = None


_PROXIES: dict[str, type[_Proxy]] = {
    "postgresql": SqlProxy, "sqlite3": SqlProxy, "redis": RedisProxy, "mongodb": MongoProxy}


class Engine:
    """``was.postgresql`` (and the others): call it; ``.lb(...)``/``.map(...)`` are the
    same engine in those modes."""

    def __init__(self, kind: str | None, mode: str = "one") -> None:
        self.kind = kind
        self.mode = mode
        if mode == "one":
            self.lb = Engine(kind, "lb")
            self.map = Engine(kind, "map")

    def __repr__(self) -> str:
        return f"<was.{self.kind or 'backend'}{'' if self.mode == 'one' else '.' + self.mode}>"

    def __call__(self, server: str, dbname: str | None = None, user: str | None = None,
                 password: str | None = None, *, use_cache: rcache.UseCache = True,
                 timeout: float = handle.DEFAULT_TIMEOUT, meta: dict[str, Any] | None = None,
                 callback: Callable[[Result], Any] | None = None) -> Any:
        return self._proxy(self.mode, server, dbname, user, password, use_cache, timeout, meta,
                           callback)

    def _proxy(self, mode: str, server: str, dbname: str | None, user: str | None,
               password: str | None, use_cache: rcache.UseCache, timeout: float,
               meta: dict[str, Any] | None, callback: Callable[[Result], Any] | None) -> Any:
        if not isinstance(server, str) or not server:
            raise TypeError("the first argument is an '@alias' or a server address")
        mongo_db = dbname if (self.kind == "mongodb" or server.startswith("@")) else None
        target = targets.resolve_db(server, self.kind, None if mongo_db else dbname, user,
                                    password)
        proxy = _PROXIES[target.kind](target, mode, use_cache=use_cache, timeout=timeout,
                                      meta=meta, callback=callback)
        if isinstance(proxy, MongoProxy):
            proxy._database = mongo_db
        return proxy


async def close_all() -> None:
    """On the loop, at the worker's stop: close this loop's pools."""
    import asyncio

    here = id(asyncio.get_running_loop())
    for slot in [s for s in _drivers if s[1] == here]:
        await _drivers.pop(slot).close()


postgresql = Engine("postgresql")
sqlite3 = Engine("sqlite3")
redis = Engine("redis")
mongodb = Engine("mongodb")
backend = Engine(None)
