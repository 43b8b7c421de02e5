"""Starting and stopping ``was`` in a web worker (called by ``skitai.worker.main``).

``start(config, loop)``: calls run on the worker's loop, with the config's aliases,
result-cache bound and backend keep-alive.  ``stop()`` (a coroutine, on the loop, as
the worker ends): closes the database pools and upstream connections ``was`` opened.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from skitai.was import bridge, rcache, targets

_settings: dict[str, Any] = {"backend_keep_alive": 10.0}


def start(config: Any, loop: asyncio.AbstractEventLoop) -> None:
    bridge.attach(loop)
    targets.configure(tuple(config.aliases), bool(config.backend_http2))
    rcache.get_cache().resize(int(getattr(config, "max_rcache", rcache.DEFAULT_MAX)))
    _settings["backend_keep_alive"] = float(config.backend_keep_alive)
    _settings["varpath"] = config.varpath


def setting(name: str, default: Any = None) -> Any:
    return _settings.get(name, default)


async def stop() -> None:
    from skitai.was import databases, http

    await http.close_all()
    if "skitai.was.grpc" in sys.modules:
        from skitai.was import grpc

        await grpc.close_all()
    await databases.close_all()
