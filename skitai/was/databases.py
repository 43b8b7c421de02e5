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

_new = object.__new__
# Drivers hold connections bound to one event loop: one set per loop (a worker has one).
_drivers: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def driver(kind: str, on: bridge.Bridge | None = None) -> Any:
    """This loop's driver for ``kind`` (``on``: the bridge, when the caller has it)."""
    slot = (kind, id((on if on is not None else bridge.get()).loop))
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
    errors = _errors_by_kind.get(kind)
    if errors is None:
        errors = (OSError,)
        if kind == "redis":
            import redis.exceptions

            errors += (redis.exceptions.ConnectionError,)
        _errors_by_kind[kind] = errors
    return errors


_errors_by_kind: dict[str, tuple[type[BaseException], ...]] = {}


def _key(kind: str, members: tuple[Any, ...], mode: str, op: str, args: str
         ) -> tuple[Any, ...]:
    """A call's result-cache key (``rcache.deferred``: made only if the cache is used)."""
    return (kind, members, mode, op, args)


class _Proxy:
    """What ``was.<engine>(server, ...)`` returns: starts calls on its target."""

    def __init__(self, target: targets.Target, mode: str, use_cache: rcache.UseCache,
                 timeout: float, meta: dict[str, Any] | None,
                 callback: Callable[[Result], Any] | None) -> None:
        """(Positional arguments: a class called with keyword arguments packs them into a
        dict and unpacks it again, twice the cost of the whole ``__init__``.)"""
        self._target = target
        self._mode = mode
        self._use_cache = use_cache if use_cache is True else rcache.check_use_cache(use_cache)
        self._timeout = timeout
        self._meta = meta
        self._callback = callback
        self._bridge = on = bridge.get()
        self._driver = driver(target.kind, on)

    def _start(self, op: str, run: Callable[..., Any], key: Any, *args: Any
               ) -> handle.Call | handle.MapCall:
        """A call of ``run(member, *args)``; ``key`` its result-cache key."""
        target = self._target
        label = f"{target.name} {op}"
        if self._mode == "map":
            return handle.MapCall(
                lambda: [self._call(functools.partial(run, m, *args), label, None)
                         for m in target.members],
                target=label, cache_key=key, use_cache=self._use_cache)
        # The coroutine the balancer runs is the call's own (no wrapper coroutine).
        return self._call(functools.partial(targets.balancer.one, target.members, run,
                                            _connect_errors(target.kind), *args), label, key)

    def _key(self, op: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        target = self._target
        return _key(target.kind, target.members, self._mode, op, repr(args))

    def _call(self, runner: Callable[[], Any], label: str, key: Any) -> handle.Call:
        # A database call keeps its thread's place while it waits (lend=False): a database
        # serves best at a concurrency near its cores, and a worker's threads already
        # bound its queries; lent places raised it 4x (16 pool connections a worker) and
        # SELECT 1 at -c64 lost 10-25% of its req/s.  An HTTP member's wait is latency.
        meta = self._meta
        # handle.Call(...), without type.__call__ packing the keywords into a dict.
        call: handle.Call = _new(handle.Call)
        handle.Call.__init__(call, runner, target=label, timeout=self._timeout, cache_key=key,
                             use_cache=self._use_cache, meta={} if meta is None else dict(meta),
                             lend=False, bridge=self._bridge,
                             callbacks=None if self._callback is None else [self._callback])
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
        target = self._target
        # The parameters as they are now (the app may change a list it passed before
        # result.cache()); the key itself is made only if the cache is used.
        key = rcache.deferred(_key, target.kind, target.members, self._mode, "execute",
                              repr((statement, params)) if params is not None else statement)
        return self._start("execute", self._driver.execute, key, statement, params)

    excute = execute  # the seed README's spelling
    query = execute


class RedisProxy(_Proxy):
    """redis-py's command names as methods: ``set``, ``get``, ``hgetall``..."""

    def __getattr__(self, name: str) -> Callable[..., handle.Call | handle.MapCall]:
        self._driver.check_command(name)
        drv = self._driver

        def command(*args: Any, **kwargs: Any) -> handle.Call | handle.MapCall:
            return self._start(name, drv.command, self._key(name, (args, sorted(kwargs.items()))),
                               name, args, kwargs)

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
            return self._start(name, drv.command, self._key(
                name, (database, collection, args, sorted(kwargs.items()))),
                database, collection, name, args, kwargs)

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
        if not isinstance(server, str) or not server:
            raise TypeError("the first argument is an '@alias' or a server address")
        mongo_db = dbname if (self.kind == "mongodb" or server[0] == "@") else None
        target = targets.resolve_db(server, self.kind, None if mongo_db else dbname, user,
                                    password)
        proxy = _PROXIES[target.kind](target, self.mode, use_cache, timeout, meta, callback)
        if target.kind == "mongodb":
            assert isinstance(proxy, MongoProxy)
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
