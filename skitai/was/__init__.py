"""``from skitai import was``: the services an app reaches from inside any worker.

This package *is* the ``was`` object (module-level functions), so ``skitai.was`` stays the
same thing whether or not a submodule such as ``skitai.was.process`` was imported.  Parts
live in their own modules, imported lazily so ``import skitai`` stays cheap:

- ``was.email(subject, snd, rcpt)``          -> ``skitai.smtpda.message`` (spools mail)
- ``was.spool(func, *args, **kwargs)``         -> ``skitai.spooler.queue`` (queues a task)
- ``was.setlu/getlu/broadcast/on_broadcast``  -> ``skitai.was.process`` (shared memory and
  the master's relay); ``was.restart()``/``was.shutdown()`` ask the master.
"""

from __future__ import annotations

from typing import Any


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
