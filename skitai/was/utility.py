"""``was.status()``, ``was.gentemp()``, ``was.log()``, ``was.traceback()``,
``was.txnid()`` (README "Utility Methods of 'was'").

``was.status()`` is the whole server as the master's shared memory shows it (every
process: role, pid, ready, requests, connections, what it runs now, and a web worker's
thread pool: ``threads``, ``max_threads``, ``threads_running``, ``threads_waiting`` on
was calls, ``threads_idle``, ``requests_queued``, as of its last heartbeat; zeros for a
daemon), plus what this
worker's ``was`` holds (upstream and database pools, balancer counts, result-cache hit
rate): an HTML page, or ``was.status(format="json")`` the same as JSON (``"dict"``: the
dict itself).
"""

from __future__ import annotations

import html
import json
import logging
import os
import sys
import tempfile
import time
from typing import Any

from skitai.ipc.lu import ThreadCounts
from skitai.was import context, databases, process, rcache, runtime, targets

_log = logging.getLogger("skitai.app")


def status(format: str = "html") -> Any:
    data = snapshot()
    if format == "dict":
        return data
    if format == "json":
        return json.dumps(data, default=str)
    if format != "html":
        raise ValueError("format is 'html', 'json' or 'dict'")
    return _html(data)


def snapshot() -> dict[str, Any]:
    now = time.monotonic()
    lu = process._lu
    processes = []
    if lu is not None:
        for i in range(lu.cells):
            cell = lu.cell(i)
            if not cell.role:
                continue
            text, since = cell.request()
            processes.append({
                "role": cell.role, "slot": cell.slot, "pid": cell.pid, "ready": cell.ready,
                "generation": cell.generation, "requests": cell.requests,
                "connections": cell.connections, "current": text,
                "busy_for": round(now - since, 3) if text and since else 0.0,
                "last_beat": round(now - cell.beat, 1), **cell.threads()._asdict()})
    else:
        processes.append({"role": "standalone", "slot": 0, "pid": os.getpid(), "ready": True,
                          "generation": 0, "requests": 0, "connections": 0, "current": "",
                          "busy_for": 0.0, "last_beat": 0.0, **ThreadCounts()._asdict()})
    return {
        "pid": os.getpid(),
        "time": time.time(),
        "processes": processes,
        "lu": {key: lu.getlu(key) for key in lu.keys} if lu is not None else {},
        "this_worker": {
            "result_cache": rcache.get_cache().stats(),
            "members": targets.balancer.stats(),
            "upstream": _upstream_loads(),
            "databases": {kind: d.stats() for kind, d in databases.drivers().items()},
        },
    }


def _upstream_loads() -> dict[str, Any]:
    try:
        from skitai.upstream import registry

        loads: dict[str, Any] = registry.current().loads()
        return loads
    except (ImportError, RuntimeError):
        return {}


def _html(data: dict[str, Any]) -> str:
    def table(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "<p>none</p>"
        names = list(rows[0])
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(n, '')))}</td>"
                                        for n in names) + "</tr>" for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    mine = data["this_worker"]
    cache = mine["result_cache"]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Skitai status</title>"
        "<style>table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "</style></head><body>",
        f"<h1>Skitai status</h1><p>worker pid {data['pid']}</p>",
        "<h2>Processes</h2>", table(data["processes"]),
        "<h2>Result cache (this worker)</h2>", table([cache]),
        "<h2>Backend members (this worker)</h2>",
        table([{"member": k, **v} for k, v in mine["members"].items()]),
    ]
    for name, loads in mine["upstream"].items():
        parts += [f"<h3>{html.escape(name)}</h3>", table(loads)]
    for kind, pools in mine["databases"].items():
        parts += [f"<h3>{html.escape(kind)}</h3>",
                  table([{"member": k, **v} for k, v in pools.items()])]
    if data["lu"]:
        parts += ["<h2>setlu keys</h2>",
                  table([{"key": k, "updated": v} for k, v in data["lu"].items()])]
    parts.append("</body></html>")
    return "".join(parts)


def gentemp(suffix: str = "", prefix: str = "skitai-") -> str:
    """A new temporary file's full path (created empty, so the name is yours alone);
    under ``<varpath>/tmp`` when the server has a var path."""
    base = runtime.setting("varpath")
    directory = None
    if base:
        directory = os.path.join(base, "tmp")
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, path = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=directory)
    os.close(fd)
    return path


def txnid() -> tuple[str, int]:
    """(global id, local id) of the current request (fresh ones outside a request)."""
    txn = context.txn()
    return txn.gtxid, txn.ltxid


def log(message: str, level: str = "info", *args: Any) -> None:
    """Write to the app log with the request's transaction ids."""
    gtxid, ltxid = txnid() if context.current() is not None else ("-", 0)
    number = logging.getLevelName(level.upper())
    _log.log(number if isinstance(number, int) else logging.INFO,
             f"[{gtxid} {ltxid}] {message}", *args)


def traceback(message: str = "") -> None:
    """Log the exception being handled, with the request's transaction ids."""
    gtxid, ltxid = txnid() if context.current() is not None else ("-", 0)
    exc = sys.exc_info()
    _log.error("[%s %s] %s", gtxid, ltxid, message or "app exception",
               exc_info=exc if exc[0] is not None else None)
