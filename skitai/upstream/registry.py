"""One ``AliasPool`` per HTTP alias in a worker, made on first use.

The worker's composition root installs a ``Registry`` (``install``) once its loop runs;
the reverse proxy and ``was`` find pools with ``current().get("@members")``.  Pools live
as long as the worker: their keep-alive connections and member states are per worker.
"""

from __future__ import annotations

import asyncio

from skitai.config import aliases
from skitai.config.model import ServerConfig
from skitai.upstream.connection import UpstreamError
from skitai.upstream.pool import AliasPool


class Registry:
    def __init__(self, config: ServerConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self._pools: dict[str, AliasPool] = {}

    def get(self, name: str) -> AliasPool:
        """The pool of an HTTP alias (``"@members"`` or ``"members"``)."""
        key = aliases.key(name)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        alias = aliases.find(self.config.aliases, key)
        if alias is None:
            raise UpstreamError(f"no alias '@{key}'", sent=False)
        if not alias.is_http:
            raise UpstreamError(f"'@{key}' is a {alias.type} alias, not an HTTP one", sent=False)
        pool = self._pools[key] = AliasPool(
            alias, self.loop, keep_alive=self.config.backend_keep_alive,
            timeout=self.config.backend_timeout,
            http2=self.config.backend_http2 if alias.http2 is None else alias.http2)
        return pool

    def loads(self) -> dict[str, list[dict[str, object]]]:
        """Member loads of the pools in use (for ``skitai status``)."""
        return {f"@{name}": pool.loads() for name, pool in self._pools.items()}

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


_current: Registry | None = None


def install(registry: Registry) -> None:
    global _current
    _current = registry


def current() -> Registry:
    if _current is None:
        raise RuntimeError("no upstream registry in this process (not a web worker?)")
    return _current
