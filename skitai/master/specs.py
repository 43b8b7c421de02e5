"""Process specs: what the master runs, one spec per role (circus's watchers, reduced).

A spec names its entry by dotted path (``package.module:function``); the master imports
it only in the child, after fork, so the master itself never loads the web stack, the
mail agent or a user app.  Peer daemons plug in here: a new daemon is one more spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from skitai.config.model import ServerConfig

WORKER_ENTRY: Final = "skitai.worker.main:run"
SMTPDA_ENTRY: Final = "skitai.smtpda.main:run"
CRON_ENTRY: Final = "skitai.cron.main:run"


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # "worker", "smtpda", "cron": the title suffix and the status role
    role: str
    entry: str  # "package.module:function", called as function(config, ctx) -> int
    count: int = 1
    # Web workers: inherit the listeners, beat in their cell, report "ready" themselves,
    # take part in HUP reloads and scaling.  Daemons: none of that; they are RUNNING once
    # they have stayed up for ``startsecs``.
    web: bool = False
    startsecs: float = 1.0

    def title(self, config_name: str, slot: int) -> str:
        if self.web:
            return f"skitai({config_name}): {self.name} #{slot}"
        return f"skitai({config_name}): {self.name}"


def build_specs(config: ServerConfig, *, worker_entry: str = WORKER_ENTRY,
                smtpda_entry: str = SMTPDA_ENTRY, cron_entry: str = CRON_ENTRY) -> list[ProcessSpec]:
    """The specs a config asks for: web workers always, smtpda and cron when configured.
    Entries can be swapped (tests run fixture children through the same machinery)."""
    specs = [ProcessSpec("worker", "worker", worker_entry, count=config.workers, web=True)]
    if config.smtpda is not None:
        specs.append(ProcessSpec("smtpda", "smtpda", smtpda_entry))
    if config.crons:
        specs.append(ProcessSpec("cron", "cron", cron_entry))
    return specs


def split_entry(entry: str) -> tuple[str, str]:
    module, sep, func = entry.partition(":")
    if not sep or not module or not func:
        raise ValueError(f"an entry is 'package.module:function', got {entry!r}")
    return module, func
