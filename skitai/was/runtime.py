"""Starting and stopping ``was`` in a web worker (called by ``skitai.worker.main``), and
what ``was`` knows of the app's declarations.

``start(config, loop)``: calls run on the worker's loop, with the frozen config's
aliases, working directory, result-cache bound and backend keep-alive.  ``stop()`` (a
coroutine, on the loop, as the worker ends): closes the database pools and upstream
connections ``was`` opened.

Outside a worker (``python app.py`` before ``skitai.run()``, a script, a test), ``was``
still resolves ``@alias`` and finds templates: the app side (``skitai.api``) hands its
draft here with ``declare()``, so ``was`` (layer 3) never imports the API layer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from skitai.config.aliases import Alias

_settings: dict[str, Any] = {"backend_keep_alive": 10.0}
_declared: dict[str, Callable[[], Any]] = {}


def declare(*, aliases: Callable[[], tuple[Alias, ...]], swd: Callable[[], str],
            backend_http2: Callable[[], bool] | None = None) -> None:
    """The app side's draft, read while no worker has started ``was``: ``aliases()``
    (declared so far), ``swd()`` (the app's working directory) and ``backend_http2()``
    (``set_backend_http2``'s choice)."""
    _declared["aliases"] = aliases
    _declared["swd"] = swd
    if backend_http2 is not None:
        _declared["backend_http2"] = backend_http2


def declared_aliases() -> tuple[Alias, ...]:
    """The aliases declared so far, outside a worker (none when nothing declared any)."""
    found = _declared.get("aliases")
    return found() if found is not None else ()


def declared_backend_http2() -> bool:
    """``set_backend_http2``'s choice so far, outside a worker (on when nothing declared)."""
    found = _declared.get("backend_http2")
    return bool(found()) if found is not None else True


def swd() -> str:
    """The app's working directory: the worker's config, else the declaring script's."""
    found = _settings.get("swd")
    if found is not None:
        return str(found)
    declared = _declared.get("swd")
    return declared() if declared is not None else os.getcwd()


def start(config: Any, loop: asyncio.AbstractEventLoop) -> None:
    from skitai.was import bridge, rcache, targets

    bridge.attach(loop)
    targets.configure(tuple(config.aliases), bool(config.backend_http2))
    rcache.get_cache().resize(int(getattr(config, "max_rcache", rcache.DEFAULT_MAX)))
    _settings["backend_keep_alive"] = float(config.backend_keep_alive)
    _settings["varpath"] = config.varpath
    _settings["swd"] = os.path.abspath(getattr(config, "swd", None) or ".")
    _import_drivers({alias.type for alias in config.aliases})


# The modules a database alias's first call would import, on the loop, holding it (asyncpg
# alone ~40 ms): imported as the worker starts instead, before it serves.
_DRIVER_MODULES = {
    "postgresql": ("asyncpg", "skitai.was.pg"),
    "redis": ("redis.asyncio", "skitai.was.redisdb"),
    "sqlite3": ("skitai.was.sqlite",),
}


def _import_drivers(kinds: set[str]) -> None:
    import importlib

    for kind in sorted(kinds):
        for name in _DRIVER_MODULES.get(kind, ()):
            try:
                importlib.import_module(name)
            except ImportError:  # the call says so, when one is made
                break


def setting(name: str, default: Any = None) -> Any:
    return _settings.get(name, default)


async def stop() -> None:
    from skitai.was import databases, http

    await http.close_all()
    if "skitai.was.grpc" in sys.modules:
        from skitai.was import grpc

        await grpc.close_all()
    await databases.close_all()
