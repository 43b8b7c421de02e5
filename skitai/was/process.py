"""``was.setlu/getlu/broadcast/on_broadcast`` and ``was.restart/shutdown``: the app's side
of the master.

Under a master, ``skitai.worker.child.Supervision`` calls ``configure()`` with the shared
memory (``skitai.ipc.lu.LuMemory``) and a thread-safe ``send`` to the master's channel:

- ``setlu(key)`` stores ``time.time()`` in the key's shared float: every worker's
  ``getlu(key)`` sees it at once, and it survives worker restarts (the master owns the
  memory).  It also broadcasts ``model-changed:<key>``.
- ``broadcast(event, *args, **kwargs)`` goes to the master, which relays it to every web
  worker, this one included, so a handler runs once per worker whichever worker sent
  it.  Arguments travel as JSON (never pickle): lists, dicts, strings, numbers.
- Handlers registered with ``on_broadcast(event)`` run on the worker's event loop
  thread: keep them short (clear a cache, bump a version); a coroutine function is
  scheduled as a task.

Without a master (a single process, a test), ``setlu/getlu`` use process-local memory,
``broadcast`` calls the local handlers directly, ``shutdown()`` sends this process
SIGTERM and ``restart()`` logs that there is nobody to ask.

Every function here may be called from any thread (WSGI apps run in a thread pool).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("skitai.app")

Send = Callable[[dict[str, Any]], None]
Handler = Callable[..., Any]

_lock = threading.Lock()
_lu: Any = None  # skitai.ipc.lu.LuMemory under a master
_send: Send | None = None
_loop: Any = None  # the worker's asyncio loop, for coroutine handlers
_local: dict[str, float] = {}
_started = time.time()
_handlers: dict[str, list[Handler]] = {}


def configure(*, lu: Any = None, send: Send | None = None, loop: Any = None) -> None:
    """Called by the worker's supervision once it is connected to its master."""
    global _lu, _send, _loop
    with _lock:
        _lu, _send, _loop = lu, send, loop


def reset() -> None:
    """Back to standalone, with no handlers (tests)."""
    global _lu, _send, _loop
    with _lock:
        _lu, _send, _loop = None, None, None
        _local.clear()
        _handlers.clear()


# --- last-update timestamps -----------------------------------------------------------------
def setlu(key: str, *args: Any, x_ignore: bool = False, **kwargs: Any) -> None:
    """Mark ``key`` as updated now, everywhere, and broadcast ``model-changed:<key>``.
    An undeclared key raises ``KeyError`` (``x_ignore=True``: silently ignored)."""
    lu = _lu
    if lu is not None:
        try:
            lu.setlu(key)
        except KeyError:
            if x_ignore:
                return
            raise
    else:
        _local[key] = time.time()
    broadcast(f"model-changed:{key}", *_jsonable(args), **dict(zip(kwargs, _jsonable(kwargs.values()), strict=True)))


def getlu(*keys: str) -> float:
    """The newest update time among ``keys``; a key never set counts as the start time."""
    lu = _lu
    if lu is not None:
        return float(lu.getlu(*keys))
    if not keys:
        return max(_local.values(), default=_started)
    return max(_local.get(k, _started) for k in keys)


# --- events across workers ---------------------------------------------------------------------
def broadcast(event: str, *args: Any, **kwargs: Any) -> None:
    """Deliver ``event`` to the handlers of every worker (JSON-serialisable arguments)."""
    if not isinstance(event, str) or not event:
        raise ValueError("an event name is a non-empty string")
    message = {"op": "broadcast", "event": event, "args": list(args), "kwargs": kwargs}
    send = _send
    if send is not None:
        send(message)  # encodes in this thread: a bad argument raises here, in the caller
        return
    try:
        json.dumps(message)
    except TypeError as exc:
        raise ValueError(f"broadcast arguments must be JSON-serialisable: {exc}") from None
    deliver(event, list(args), dict(kwargs))


def on_broadcast(event: str) -> Callable[[Handler], Handler]:
    """Decorator: ``@was.on_broadcast("model-changed:users")``; ``"*"`` gets every event
    (called with the event name first)."""

    def register(func: Handler) -> Handler:
        add_handler(event, func)
        return func

    return register


def add_handler(event: str, func: Handler) -> None:
    with _lock:
        _handlers.setdefault(event, []).append(func)


def remove_handler(event: str, func: Handler) -> None:
    with _lock:
        funcs = _handlers.get(event, [])
        if func in funcs:
            funcs.remove(func)


def deliver(event: str, args: list[Any], kwargs: dict[str, Any]) -> int:
    """Run the handlers of ``event`` (and of ``"*"``); returns how many ran."""
    with _lock:
        targets = [(f, False) for f in _handlers.get(event, [])]
        targets += [(f, True) for f in _handlers.get("*", [])]
    for func, wildcard in targets:
        call_args = [event, *args] if wildcard else args
        try:
            result = func(*call_args, **kwargs)
            if inspect.iscoroutine(result):
                loop = _loop
                if loop is not None:
                    loop.create_task(result)
                else:
                    result.close()
                    log.warning("broadcast handler %r is a coroutine but no loop runs", func)
        except Exception:  # noqa: BLE001 - one app's handler must not break delivery
            log.exception("broadcast handler %r for %r failed", func, event)
    return len(targets)


# --- asking the master ----------------------------------------------------------------------
def request_master(command: str) -> None:
    """``"reload"`` (was.restart: a graceful rolling reload of every worker) or
    ``"stop"`` (was.shutdown: a graceful stop of the whole server)."""
    if command not in ("reload", "stop"):
        raise ValueError(f"unknown master request {command!r}")
    send = _send
    if send is not None:
        send({"op": "request", "cmd": command})
        return
    if command == "stop":
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        log.warning("was.restart(): no master process to reload this server")


def _jsonable(values: Any) -> list[Any]:
    out = []
    for value in values:
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            value = repr(value)
        out.append(value)
    return out
