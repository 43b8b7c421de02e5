"""Process specs: what the master runs, one spec per role (circus's watchers, reduced).

A spec names its entry by dotted path (``package.module:function``); the master imports
it only in the child, after fork, so the master itself never loads the web stack, the
mail agent or a user app.  Every service daemon (``config.daemons``, in start order) is
one more spec run by the one daemon host; the master knows none of them by name.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Final

from skitai.config.model import CriticalPoint, ServerConfig

WORKER_ENTRY: Final = "skitai.worker.main:run"
# Runs any DaemonSpec: a Python entry with its DaemonContext, or an external command.
DAEMON_ENTRY: Final = "skitai.daemons.host:run"


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # "worker" or the daemon's name: the title suffix and the status role
    role: str
    entry: str  # "package.module:function", called as function(config, ctx) -> int
    count: int = 1
    # Web workers: inherit the listeners, beat in their cell, report "ready" themselves,
    # take part in HUP reloads and scaling.  Daemons: none of that; they are RUNNING once
    # they have stayed up for ``startsecs``.
    web: bool = False
    startsecs: float = 1.0
    # Daemons only (supervisord's names): restart always | on-failure | never; failed
    # starts in a row before FATAL; daemons that must be RUNNING before this one starts;
    # stop signal and seconds before SIGKILL; resource ceilings; heartbeat watch.
    restart: str = "always"
    startretries: int = 3
    after: tuple[str, ...] = ()
    stop_signal: str = "TERM"
    stop_timeout: float = 10.0
    max_rss: int = 0
    critical_point: CriticalPoint | None = None
    heartbeat: float = 0.0
    stop_rank: int = 0  # higher ranks stop first (reverse start order)

    def title(self, config_name: str, slot: int) -> str:
        if self.web or self.count > 1:
            return f"skitai({config_name}): {self.name} #{slot}"
        return f"skitai({config_name}): {self.name}"

    @property
    def signal(self) -> int:
        return int(getattr(signal, "SIG" + self.stop_signal, signal.SIGTERM))


def build_specs(config: ServerConfig, *, worker_entry: str = WORKER_ENTRY,
                daemon_entry: str = DAEMON_ENTRY) -> list[ProcessSpec]:
    """The specs a config asks for: web workers, then every daemon in start order.
    Entries can be swapped (tests run fixture children through the same machinery)."""
    from skitai.config import daemonspec

    ranks = daemonspec.rank(list(config.daemons))
    top = max(ranks.values(), default=0) + 1
    specs = [ProcessSpec("worker", "worker", worker_entry, count=config.workers, web=True,
                         stop_rank=top)]
    for d in config.daemons:
        cpu = (CriticalPoint(d.max_cpu, d.cpu_samples, d.cpu_interval)
               if d.max_cpu > 0 and d.cpu_interval > 0 else None)
        specs.append(ProcessSpec(
            d.name, d.name, daemon_entry, count=d.count, startsecs=d.startsecs,
            restart=d.restart, startretries=d.startretries, after=d.after,
            stop_signal=d.stop_signal, stop_timeout=d.stop_timeout, max_rss=d.max_rss,
            critical_point=cpu, heartbeat=d.heartbeat, stop_rank=ranks.get(d.name, 0)))
    return specs


def split_entry(entry: str) -> tuple[str, str]:
    module, sep, func = entry.partition(":")
    if not sep or not module or not func:
        raise ValueError(f"an entry is 'package.module:function', got {entry!r}")
    return module, func
