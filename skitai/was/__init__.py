"""``from skitai import was``: the services an app reaches from inside any worker.

This package *is* the ``was`` object (module-level functions), so ``skitai.was`` stays the
same thing whether or not a submodule such as ``skitai.was.process`` was imported.  Parts
live in their own modules, imported lazily so ``import skitai`` stays cheap:

- ``was.email(subject, snd, rcpt)``          -> ``skitai.smtpda.message`` (spools mail)
- ``was.spool(func, *args, **kwargs)``         -> ``skitai.spooler.queue`` (queues a task)
- ``was.setlu/getlu/broadcast/on_broadcast``  -> ``skitai.was.process`` (shared memory and
  the master's relay); ``was.restart()``/``was.shutdown()`` ask the master.
- ``was.get/post/put/patch/delete/options`` (and ``*json``/``*xml``), ``was.rpc``,
  ``was.jsonrpc``, ``was.grpc``, ``was.ws``/``was.wss`` -> ``skitai.was.http``, ``rpc``,
  ``grpc``, ``ws``
- ``was.postgresql/sqlite3/redis/mongodb/backend`` -> ``skitai.was.databases``
- ``was.promise``                              -> ``skitai.was.promise``
- ``was.status/gentemp/log/traceback/txnid``  -> ``skitai.was.utility``
- ``was.environ``: the WSGI environ of the request being served here (``None`` outside
  one), from ``skitai.was.context``.

Calls run on the worker's event loop and return a handle at once (``getwait``,
``wait``, ``getswait``, ``cache``, or ``await`` it): see ``skitai.was.handle``.
"""

from __future__ import annotations

from typing import Any

from skitai.was.result import CallError as CallError
from skitai.was.result import CallTimeout as CallTimeout
from skitai.was.result import Result as Result
from skitai.was.result import Results as Results


def email(subject: str, snd: str, rcpt: str | list[str]) -> Any:
    from skitai.smtpda import message

    return message.Composer(subject, snd, rcpt)


def spool(func: Any, *args: Any, **kwargs: Any) -> str:
    """Queue ``func(*args, **kwargs)`` for the spooler (a module-level function, JSON
    arguments); returns the task id."""
    from skitai.spooler import queue

    return queue.submit(func, args, kwargs)


def setlu(key: str, *args: Any, **kwargs: Any) -> None:
    from skitai.was import process

    process.setlu(key, *args, **kwargs)


def getlu(*keys: str) -> float:
    from skitai.was import process

    return process.getlu(*keys)


def broadcast(event: str, *args: Any, **kwargs: Any) -> None:
    from skitai.was import process

    process.broadcast(event, *args, **kwargs)


def on_broadcast(event: str) -> Any:
    """Decorator: ``@was.on_broadcast("model-changed:users")``."""
    from skitai.was import process

    return process.on_broadcast(event)


def restart() -> None:
    from skitai.was import process

    process.request_master("reload")


def shutdown() -> None:
    from skitai.was import process

    process.request_master("stop")


def off_broadcast(event: str, func: Any) -> None:
    """Undo ``on_broadcast(event)(func)`` (an app being unmounted)."""
    from skitai.was import process

    process.remove_handler(event, func)
def set_auth_handler(handler: Any) -> None:
    """The API gateway's auth object (``handle_token``/``handle_claim``), as the seed's
    ``wac.handler.set_auth_handler(obj)`` registers it from an app's mount hook."""
    from skitai.gateway import auth

    auth.set_auth_handler(handler)


# --- the services, imported on first use (``import skitai`` stays cheap) -------------------
_LAZY: dict[str, tuple[str, str]] = {
    **{name: ("skitai.was.http", name) for name in (
        "get", "post", "put", "patch", "delete", "options", "head",
        "getjson", "deletejson", "postjson", "putjson", "patchjson",
        "getxml", "deletexml", "postxml", "putxml", "patchxml")},
    "rpc": ("skitai.was.rpc", "rpc"), "jsonrpc": ("skitai.was.rpc", "jsonrpc"),
    "ws": ("skitai.was.ws", "ws"), "wss": ("skitai.was.ws", "wss"),
    "grpc": ("skitai.was.grpc", "grpc"),
    **{name: ("skitai.was.databases", name) for name in (
        "postgresql", "sqlite3", "redis", "mongodb", "backend")},
    "promise": ("skitai.was.promise", "promise"),
    **{name: ("skitai.was.utility", name) for name in (
        "status", "gentemp", "log", "traceback", "txnid")},
}


def __getattr__(name: str) -> Any:
    if name == "environ":
        from skitai.was import context

        return context.current()
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module 'skitai.was' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value
    return value
