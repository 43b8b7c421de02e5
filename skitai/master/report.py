"""``skitai status``: the master's answer (a JSON-able dict) and its text rendering.

One row per process: role, slot, pid, state, uptime, CPU seconds, RSS, requests served,
restarts, last exit reason (the original printed ``running [pid]`` and nothing else);
then a table of the web workers' thread pools (threads, max threads, running, waiting on
``was`` calls, idle, queued: ``ipc.lu.ThreadCounts``, from the shared memory, up to a
second old) and the reverse proxy's member loads.
``format_status`` is a pure function of the dict, so the CLI prints exactly what
``--json`` would have shown.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any, Protocol

from skitai.ipc.lu import ThreadCounts
from skitai.master import listeners

if TYPE_CHECKING:
    from skitai.config.model import ServerConfig
    from skitai.ipc.lu import LuMemory
    from skitai.master.monitor import Monitor
    from skitai.master.process import Process
    from skitai.master.specs import ProcessSpec


class Paths(Protocol):
    @property
    def var(self) -> str: ...


class Supervisor(Protocol):
    """What a status report reads of the master (``arbiter.Arbiter``)."""

    config: ServerConfig
    specs: list[ProcessSpec]
    processes: list[Process]
    targets: dict[str, int]
    generation: int
    last_reload: str
    stopping: str | None
    served: bool
    started: float
    listeners: list[socket.socket]
    monitor: Monitor
    lu: LuMemory | None

    @property
    def reloading(self) -> object: ...
    @property
    def paths(self) -> Paths | None: ...


def status(arb: Supervisor) -> dict[str, Any]:
    now = time.monotonic()
    rows = []
    order = {spec.name: i for i, spec in enumerate(arb.specs)}  # web workers, then start order
    for proc in sorted(arb.processes, key=lambda p: (order.get(p.spec.name, len(order)), p.spec.name,
                                                     p.slot, p.generation)):
        cell = arb.lu.cell(proc.cell) if arb.lu is not None and proc.cell >= 0 else None
        usage = arb.monitor.usage(proc.pid) if proc.pid else None
        request = cell.request()[0] if cell is not None else ""
        threads = cell.threads() if cell is not None else ThreadCounts()
        rows.append({
            "role": proc.spec.role,
            "slot": proc.slot if proc.spec.web or proc.spec.count > 1 else None,
            "pid": proc.pid,
            "state": ("STOPPED" if proc.paused and not proc.live else proc.state.value),
            "generation": proc.generation,
            "uptime": round(proc.uptime(now), 1),
            "cpu": round(usage.cpu_seconds, 2) if usage else 0.0,
            "rss": usage.rss if usage else 0,
            "requests": cell.requests if cell is not None else 0,
            "connections": cell.connections if cell is not None else 0,
            "restarts": proc.restarts,
            "last_exit": proc.last_exit,
            "request": request,
            "info": proc.info,
            "kind": "web" if proc.spec.web else "daemon",
            "upstream": getattr(arb, "upstream_loads", {}).get(proc.pid) if proc.live else None,
            **threads._asdict(),
        })
    state = "stopping" if arb.stopping else "reloading" if arb.reloading else (
        "running" if arb.served else "starting")
    return {
        "master": {
            "pid": os.getpid(),
            "name": arb.config.name,
            "state": state,
            "uptime": round(now - arb.started, 1),
            "generation": arb.generation,
            "workers": arb.targets.get("worker", 0),
            "listeners": listeners.urls(arb.listeners, arb.config),
            "last_reload": arb.last_reload,
            "var": arb.paths.var if arb.paths is not None else None,
            "fatal": sorted({p.spec.name for p in arb.processes if p.state.value == "FATAL"}),
        },
        "processes": rows,
    }


def format_status(data: dict[str, Any]) -> str:
    m = data.get("master", {})
    lines = [
        f"skitai({m.get('name')}): master pid {m.get('pid')} {m.get('state')}, "
        f"up {_duration(m.get('uptime', 0))}, generation {m.get('generation')}, "
        f"{m.get('workers')} workers, listening on {', '.join(m.get('listeners') or []) or '-'}",
    ]
    if m.get("last_reload"):
        lines.append(f"last reload: {m['last_reload']}")
    header: tuple[str, ...] = ("ROLE", "SLOT", "PID", "STATE", "GEN", "UPTIME", "CPU", "RSS",
                               "REQUESTS", "RESTARTS", "LAST EXIT")
    with_info = any(r.get("info") for r in data.get("processes", []))
    if with_info:  # the daemons' own status lines (ctx.status): queue depths
        header += ("INFO",)
    table = [header]
    for r in data.get("processes", []):
        table.append((
            r["role"], "-" if r["slot"] is None else str(r["slot"]), str(r["pid"] or "-"),
            r["state"], str(r["generation"]), _duration(r["uptime"]), f"{r['cpu']:.1f}s",
            _size(r["rss"]), str(r["requests"]), str(r["restarts"]), r["last_exit"] or "-",
        ) + ((_info(r.get("info")),) if with_info else ()))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    lines += _threads(data.get("processes", []))
    lines += _members(data.get("processes", []))
    return "\n".join(lines)


def _threads(rows: list[dict[str, Any]]) -> list[str]:
    """Each live web worker's WSGI thread pool (none with threads=0; daemons have none)."""
    header = ("WORKER", "PID", "THREADS", "MAX THREADS", "RUNNING", "WAITING", "IDLE", "QUEUED")
    table: list[tuple[str, ...]] = [header]
    for r in rows:
        if r.get("kind") == "web" and r.get("pid") and r.get("threads"):
            table.append((f"#{r['slot']}", str(r["pid"]),
                          *(str(r.get(k, 0)) for k in ThreadCounts._fields)))
    if len(table) == 1:
        return []
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["", *("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip()
                  for row in table)]


def _info(info: Any) -> str:
    if isinstance(info, dict):
        return " ".join(f"{k}={v}" for k, v in info.items())
    return str(info or "")
def _members(rows: list[dict[str, Any]]) -> list[str]:
    """The reverse proxy's members as each worker sees them (weight, in flight, served)."""
    header = ("ALIAS", "WORKER", "MEMBER", "WEIGHT", "OUTSTANDING", "SERVED", "FAILURES",
              "IDLE", "STATE")
    table = [header]
    for r in rows:
        for alias, members in sorted((r.get("upstream") or {}).items()):
            for m in members:
                table.append((alias, f"#{r['slot']}", str(m.get("member")), str(m.get("weight")),
                              str(m.get("outstanding")), str(m.get("served")),
                              str(m.get("failures")), str(m.get("idle")), str(m.get("state"))))
    if len(table) == 1:
        return []
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["", *("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip()
                  for row in table)]


def _duration(seconds: float) -> str:
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _size(n: int) -> str:
    if not n:
        return "-"
    size = float(n)
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return str(size)
