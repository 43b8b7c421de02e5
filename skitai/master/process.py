"""One supervised child: its lifecycle as a transition table (supervisor's states).

::

    EXITED --spawn--> STARTING --ready--> RUNNING --exit--> EXITED --spawn--> ...
                         |                   |
                         +--crash--> BACKOFF <+--crash      (died young: wait, then spawn)
                         +--fail---> FATAL   <+--fail       (boot error / too many crashes)
    STARTING|RUNNING --stop--> STOPPING --exit|crash|fail--> EXITED

A ``Process`` is one place in the server (a role, a slot and a generation); it keeps
its identity over respawns (restart count, last exit reason), and a pid only while a
child runs.  The arbiter decides which input an event is (a child that exits before it
was ready, or within ``MIN_UPTIME`` of its start, "crashed"); this module only keeps the
table honest: an input the table does not list raises ``InvalidTransition`` and the
process goes to FATAL rather than into a state nobody planned for.
"""

from __future__ import annotations

import enum
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Final

from skitai.errors import ExitCode, InvalidTransition
from skitai.ipc import control as codec
from skitai.master.specs import ProcessSpec


class State(enum.Enum):
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    BACKOFF = "BACKOFF"
    STOPPING = "STOPPING"
    EXITED = "EXITED"
    FATAL = "FATAL"


class Input(enum.Enum):
    SPAWN = "spawn"
    READY = "ready"
    EXIT = "exit"  # a clean or expected exit: respawn at once (if still wanted)
    CRASH = "crash"  # died young or before ready: respawn after a backoff delay
    FAIL = "fail"  # cannot run (boot error, too many crashes): give up on it
    STOP = "stop"


S, In = State, Input
TRANSITIONS: Final[dict[tuple[State, Input], State]] = {
    (S.EXITED, In.SPAWN): S.STARTING,
    (S.EXITED, In.STOP): S.EXITED,
    (S.BACKOFF, In.SPAWN): S.STARTING,
    (S.BACKOFF, In.STOP): S.EXITED,
    (S.BACKOFF, In.FAIL): S.FATAL,
    (S.STARTING, In.READY): S.RUNNING,
    (S.STARTING, In.CRASH): S.BACKOFF,
    (S.STARTING, In.EXIT): S.BACKOFF,  # leaving before ready is never "expected"
    (S.STARTING, In.FAIL): S.FATAL,
    (S.STARTING, In.STOP): S.STOPPING,
    (S.RUNNING, In.READY): S.RUNNING,  # a repeated "ready" is harmless
    (S.RUNNING, In.EXIT): S.EXITED,
    (S.RUNNING, In.CRASH): S.BACKOFF,
    (S.RUNNING, In.FAIL): S.FATAL,
    (S.RUNNING, In.STOP): S.STOPPING,
    (S.STOPPING, In.STOP): S.STOPPING,
    (S.STOPPING, In.READY): S.STOPPING,
    (S.STOPPING, In.EXIT): S.EXITED,
    (S.STOPPING, In.CRASH): S.EXITED,
    (S.STOPPING, In.FAIL): S.EXITED,
    (S.FATAL, In.STOP): S.FATAL,
}
LIVE: Final = frozenset({S.STARTING, S.RUNNING, S.STOPPING})

# A child that dies sooner than this after its start "crashed" (backoff applies).
MIN_UPTIME: Final = 5.0
BACKOFF_FIRST: Final = 0.5
BACKOFF_MAX: Final = 30.0
# Consecutive crashes before a process is FATAL.
MAX_CRASHES: Final = 8

EXIT_NAMES: Final = {int(c): c.name for c in ExitCode}


def describe_exit(status: int) -> str:
    """A ``waitpid`` status in words: ``exit 4 (APP_LOAD_ERROR)``, ``killed by SIGKILL``."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by {name}"
    code = os.waitstatus_to_exitcode(status)
    known = EXIT_NAMES.get(code)
    return f"exit {code} ({known})" if known and code else f"exit {code}"


@dataclass(eq=False)
class Process:
    spec: ProcessSpec
    slot: int
    generation: int
    state: State = State.EXITED
    pid: int | None = None
    cell: int = -1
    channel: socket.socket | None = None
    decoder: codec.Decoder = field(default_factory=codec.Decoder)
    outbuf: bytearray = field(default_factory=bytearray)
    started_at: float = 0.0  # time.monotonic() of the current child's fork
    started_wall: float = 0.0
    ready_at: float = 0.0
    restarts: int = 0
    crashes: int = 0  # consecutive; reset after MIN_UPTIME of good running
    last_exit: str = ""
    next_spawn: float = 0.0  # BACKOFF: when to try again
    stop_deadline: float = 0.0  # STOPPING: when to escalate to SIGKILL
    abort_sent: float = 0.0  # heartbeat timeout: when SIGABRT was sent
    # Whether the arbiter wants this process kept alive (False once it is being retired:
    # scaled down, replaced by a reload, or the server is stopping).
    wanted: bool = True
    # A process whose replacement is on its way (reload, recycle); retired when it is ready.
    successor: Process | None = None
    ever_ready: bool = False
    # Daemons: stopped by ``skitai daemon NAME stop`` (kept, shown, not respawned), or
    # done by its restart policy (exited cleanly under on-failure, or restart = never).
    paused: bool = False
    done: bool = False
    info: Any = ""  # the last status line the child sent (ctx.status)
    program_pid: int | None = None  # an external command's pid (the host's child)
    history: list[tuple[float, State]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.spec.name} #{self.slot}" if self.spec.web else self.spec.name

    @property
    def live(self) -> bool:
        return self.state in LIVE

    def fire(self, event: Input) -> State:
        key = (self.state, event)
        new = TRANSITIONS.get(key)
        if new is None:
            old = self.state
            self._enter(State.FATAL)
            raise InvalidTransition(f"{self.name}: no transition from {old.value} on {event.value}")
        self._enter(new)
        return new

    def _enter(self, state: State) -> None:
        self.state = state
        self.history.append((time.monotonic(), state))
        del self.history[:-20]

    def backoff_delay(self) -> float:
        return min(BACKOFF_MAX, BACKOFF_FIRST * 2.0 ** max(0, self.crashes - 1))

    def uptime(self, now: float | None = None) -> float:
        if self.pid is None or not self.started_at:
            return 0.0
        return (time.monotonic() if now is None else now) - self.started_at
