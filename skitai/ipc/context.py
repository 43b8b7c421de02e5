"""``ChildContext``: what the master hands a child process after fork.

The contract between ``skitai.master`` and every child entry point
(``skitai.worker.main:run``, ``skitai.smtpda.main:run``, ``skitai.cron.main:run``): an
entry is ``run(config: ServerConfig, ctx: ChildContext) -> int`` and returns the exit code.
A child started without a master (foreground single process, standalone daemons) gets a
context with ``channel=None`` and ``lu=None`` and binds what it needs itself.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChildContext:
    role: str  # "worker", "smtpda", "cron"
    slot: int = 0
    generation: int = 0
    # Listening sockets bound by the master (web workers only).
    listeners: list[socket.socket] = field(default_factory=list)
    # This child's end of its unix socketpair with the master (None when standalone).
    channel: socket.socket | None = None
    # The shared-memory view (skitai.ipc.lu.LuMemory) made before the first fork.
    lu: Any = None
    title: str = ""
    # This child's cell in ``lu`` (skitai.ipc.lu.Cell index); -1 when there is none.
    cell: int = -1

    @property
    def supervised(self) -> bool:
        return self.channel is not None
