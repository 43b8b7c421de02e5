"""The master's commands, one function each (circus's habit); the control socket, the
signals and ``was.restart()``/``was.shutdown()`` all arrive here.

    status              the master and one row per process
    reload              HUP: a new generation of web workers, then drain the old one
    stop [graceful]     TERM (graceful) / QUIT (fast); INT (Ctrl-C) is graceful the first
                        time and fast the second (``Arbiter.interrupt``)
    scale workers|delta TTIN (+1) / TTOU (-1) / ``skitai scale N``
    reopen              USR1: reopen log files, here and in every child
    daemon name action  start | stop | restart one daemon (``skitai daemon NAME ...``)

Each command gets the arbiter, the message and a ``reply`` callable; it answers once,
possibly later (``reload`` answers when the new generation serves or has failed).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any, Final, Protocol

Reply = Callable[[dict[str, Any]], None]


class Master(Protocol):
    def status(self) -> dict[str, Any]: ...
    def reload(self, reply: Reply | None = None) -> None: ...
    def stop(self, graceful: bool = True) -> None: ...
    def scale(self, *, workers: int | None = None, delta: int = 0) -> tuple[bool, str, int]: ...
    def reopen(self) -> None: ...
    def daemon(self, name: str, action: str) -> tuple[bool, str]: ...


def status(master: Master, message: dict[str, Any], reply: Reply) -> None:
    reply({"ok": True, **master.status()})


def reload(master: Master, message: dict[str, Any], reply: Reply) -> None:
    master.reload(reply)


def stop(master: Master, message: dict[str, Any], reply: Reply) -> None:
    graceful = bool(message.get("graceful", True))
    reply({"ok": True, "stopping": "graceful" if graceful else "fast"})
    master.stop(graceful)


def scale(master: Master, message: dict[str, Any], reply: Reply) -> None:
    workers, delta = message.get("workers"), message.get("delta", 0)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        reply({"ok": False, "error": "workers must be a whole number"})
        return
    if isinstance(delta, bool) or not isinstance(delta, int):
        reply({"ok": False, "error": "delta must be a whole number"})
        return
    ok, text, target = master.scale(workers=workers, delta=delta)
    reply({"ok": ok, "workers": target, **({"message": text} if ok else {"error": text})})


def reopen(master: Master, message: dict[str, Any], reply: Reply) -> None:
    master.reopen()
    reply({"ok": True})


def daemon(master: Master, message: dict[str, Any], reply: Reply) -> None:
    name, action = message.get("name"), message.get("action")
    if not isinstance(name, str) or not isinstance(action, str):
        reply({"ok": False, "error": "daemon needs a name and an action"})
        return
    ok, text = master.daemon(name, action)
    reply({"ok": ok, **({"message": text} if ok else {"error": text})})


COMMANDS: Final[dict[str, Callable[[Master, dict[str, Any], Reply], None]]] = {
    "status": status,
    "reload": reload,
    "stop": stop,
    "scale": scale,
    "reopen": reopen,
    "daemon": daemon,
}

# Signals are commands too: the handler only enqueues the number, the loop maps it here.
SIGNAL_COMMANDS: Final[dict[int, dict[str, Any]]] = {
    signal.SIGTERM: {"op": "stop", "graceful": True},
    signal.SIGQUIT: {"op": "stop", "graceful": False},
    signal.SIGHUP: {"op": "reload"},
    signal.SIGTTIN: {"op": "scale", "delta": 1},
    signal.SIGTTOU: {"op": "scale", "delta": -1},
    signal.SIGUSR1: {"op": "reopen"},
}


def dispatch(master: Master, message: dict[str, Any], reply: Reply) -> None:
    op = message.get("op")
    command = COMMANDS.get(op) if isinstance(op, str) else None
    if command is None:
        reply({"ok": False, "error": f"unknown command {op!r} (known: {', '.join(COMMANDS)})"})
        return
    command(master, message, reply)


def ignore(_message: dict[str, Any]) -> None:
    """The reply of a command that came from a signal: nobody waits for it."""
