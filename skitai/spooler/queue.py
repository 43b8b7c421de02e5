"""The task queue: task records in a ``skitai.filespool`` and the producer's side.

A task is a call of a module-level function by dotted path (``"package.module:func"``)
with JSON arguments (no pickle: what a request queues is data, never code).  ``submit``
writes one file (tmp/, rename into new/): no network and no daemon in the request path.
The spool directory comes from the config: the spooler's ``spool`` option, else
``<varpath>/spooler``, else ``~/.skitai/spooler/<app name>-<hash of app.py>``; a web
worker calls ``configure(spool_dir(config))`` at boot, the spooler daemon reads the same.

Records are written without fsync by default (``durable`` option of the spooler): a task
survives the death of any process, including SIGKILL of the spooler in mid-task (the
page cache keeps the file), but not of the machine; set ``durable = true`` for that,
at the price of two fsyncs per task.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skitai import filespool

ENV_SPOOL = "SKITAI_SPOOLER_DIR"
ENV_DURABLE = "SKITAI_SPOOLER_DURABLE"
_configured: dict[str, Any] = {"spool": None, "durable": False}


@dataclass(kw_only=True)
class TaskRecord(filespool.Record):
    func: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int | None = None  # None: the spooler's default
    timeout: float | None = None


class TaskSpool(filespool.Spool[TaskRecord]):
    def __init__(self, root: str, clock: Callable[[], float] = time.time, *,
                 claim_dir: str = "cur", durable: bool = False) -> None:
        super().__init__(root, clock, record_type=TaskRecord, claim_dir=claim_dir,
                         durable=durable)

    def enqueue(self, func: str, args: list[Any], kwargs: dict[str, Any], *,
                retries: int | None = None, timeout: float | None = None) -> TaskRecord:
        now = self.clock()
        rec = TaskRecord(id=filespool.new_id(now), func=func, args=args, kwargs=kwargs,
                         created=now, next_try=now, retries=retries, timeout=timeout)
        return self.add(rec)


def spool_dir(config: Any) -> str:
    for spec in getattr(config, "daemons", ()):
        if spec.name == "spooler" and spec.option("spool"):
            return os.path.abspath(os.path.expanduser(str(spec.option("spool"))))
    if getattr(config, "varpath", None):
        return os.path.join(os.path.abspath(os.path.expanduser(config.varpath)), "spooler")
    origin = getattr(config, "script", None) or os.path.abspath(getattr(config, "swd", "."))
    digest = hashlib.sha1(origin.encode()).hexdigest()[:8]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", getattr(config, "name", "skitai")).strip("-")
    return os.path.join(os.path.expanduser("~"), ".skitai", "spooler", f"{safe or 'app'}-{digest}")


def durable(config: Any) -> bool:
    from skitai.config import parse

    for spec in getattr(config, "daemons", ()):
        if spec.name == "spooler":
            return parse.boolean(spec.option("durable", False))
    return False


def configure(spool: str, durable: bool = False) -> None:
    """Called once at boot by a process that queues tasks (a web worker)."""
    _configured["spool"] = spool
    _configured["durable"] = durable
    os.environ[ENV_SPOOL] = spool
    os.environ[ENV_DURABLE] = "1" if durable else ""


def func_path(func: Callable[..., Any]) -> str:
    """``module:qualname`` of a module-level function; anything else cannot be found again
    by the spooler and is refused here, in the caller."""
    inner = getattr(func, "__wrapped__", func)
    module = getattr(inner, "__module__", None)
    qualname = getattr(inner, "__qualname__", "")
    if not module or not qualname or "<" in qualname:
        raise TypeError(f"a task is a module-level function, got {func!r}")
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not func and getattr(found, "__wrapped__", None) is not inner:
        raise TypeError(f"a task is a module-level function: {module}:{qualname} does not "
                        f"lead back to {func!r}")
    return f"{module}:{qualname}"


def resolve(path: str) -> Callable[..., Any]:
    module, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module) if module == "__main__" else importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "__wrapped__", obj) if isinstance(obj, Task) else obj


def submit(func: Callable[..., Any] | str, args: tuple[Any, ...], kwargs: dict[str, Any], *,
           retries: int | None = None, timeout: float | None = None) -> str:
    """Queue ``func(*args, **kwargs)``; returns the task id.  Arguments must be JSON."""
    path = func if isinstance(func, str) else func_path(func)
    try:
        json.dumps([list(args), kwargs])
    except (TypeError, ValueError) as exc:
        raise TypeError(f"task arguments must be JSON-serialisable: {exc}") from None
    root = _configured["spool"] or os.environ.get(ENV_SPOOL)
    if not root:
        raise RuntimeError("no task spool: enable the spooler (skitai.enable_spooler()) and "
                           "queue tasks from a process of that server")
    durable = bool(_configured["durable"] or os.environ.get(ENV_DURABLE))
    sp = _spools.get((root, durable))
    if sp is None:  # made once per process: its folders are checked once, not per task
        sp = _spools[(root, durable)] = TaskSpool(root, durable=durable)
    return sp.enqueue(path, list(args), dict(kwargs), retries=retries, timeout=timeout).id


_spools: dict[tuple[str, bool], TaskSpool] = {}


class Task:
    """``@skitai.task``: calling the function queues it (uWSGI's ``@spool``);
    ``.run(*args)`` calls it here and now."""

    def __init__(self, func: Callable[..., Any], retries: int | None = None,
                 timeout: float | None = None) -> None:
        self.__wrapped__ = func
        self.retries = retries
        self.timeout = timeout
        self.__name__ = getattr(func, "__name__", "task")
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)
        self.__module__ = getattr(func, "__module__", "__main__")
        self.__doc__ = func.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return submit(self, args, kwargs, retries=self.retries, timeout=self.timeout)

    spool = __call__

    def run(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)


def task(func: Callable[..., Any] | None = None, *, retries: int | None = None,
         timeout: float | None = None) -> Any:
    """``@skitai.task`` or ``@skitai.task(retries=5, timeout=30)``."""
    if func is None:
        return lambda f: Task(f, retries, timeout)
    return Task(func, retries, timeout)
