"""Host heartbeats: each cluster daemon writes its host's line every ``heartbeat``
seconds, as a key with a TTL of three beats (alive while it exists) and into a hash that
remembers every host (so ``skitai status --cluster`` can say which ones are gone)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
import redis.asyncio as aioredis

from skitai.cluster import keys


async def beat(client: aioredis.Redis, prefix: str, host_id: str, info: dict[str, Any],
               ttl: float) -> None:
    data = json.dumps({**info, "host": host_id, "time": time.time()}, separators=(",", ":"))
    async with client.pipeline(transaction=False) as pipe:
        pipe.set(keys.host(prefix, host_id), data, px=max(1, int(ttl * 1000)))
        pipe.hset(keys.hosts(prefix), host_id, data)
        await pipe.execute()


async def leave(client: aioredis.Redis, prefix: str, host_id: str) -> None:
    """A clean stop: the host is gone at once (and listed as stopped)."""
    await client.delete(keys.host(prefix, host_id))


def listing(client: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    """Every host ever seen, newest first, each with ``alive`` (its TTL key exists)."""
    known: dict[bytes, bytes] = client.hgetall(keys.hosts(prefix))  # type: ignore[assignment]
    rows = []
    for host_id, data in known.items():
        try:
            row: dict[str, Any] = json.loads(data)
        except ValueError:
            row = {"host": host_id.decode(errors="replace")}
        row["alive"] = bool(client.exists(keys.host(prefix, row.get("host", ""))))
        rows.append(row)
    rows.sort(key=lambda r: (not r["alive"], -float(r.get("time") or 0)))
    return rows


def render(rows: list[dict[str, Any]], now: float | None = None) -> str:
    now = time.time() if now is None else now
    if not rows:
        return "no host has joined this cluster"
    lines = []
    for row in rows:
        ago = now - float(row.get("time") or 0)
        state = "UP" if row["alive"] else f"GONE (last seen {ago:.0f}s ago)"
        procs = row.get("processes") or []
        summary = ", ".join(f"{p.get('role')}{'' if p.get('slot') is None else ' #' + str(p.get('slot'))}"
                            f" pid {p.get('pid')} {p.get('state')}" for p in procs)
        lines.append(f"{row.get('host')}  {state}  {row.get('address', '')}:{row.get('port', '')}"
                     f"  master pid {row.get('master_pid')}")
        if summary:
            lines.append(f"    {summary}")
    return "\n".join(lines)
