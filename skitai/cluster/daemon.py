"""The cluster daemon: ``skitai.cluster.daemon:main(ctx)``, one per host, enabled by
``skitai.enable_cluster()`` (the ``cluster`` name in ``config.daemonspec.BUILTIN``).

It keeps one Redis connection (plus its pub/sub one) and runs three tasks while it is up:
the bus writer (local events out), the bus reader (other hosts' events in) and the
heartbeat.  Redis down or lost: it logs once, the host keeps working alone (local
broadcasts, local ``setlu``), and it reconnects with backoff; each (re)connect first
reconciles the lu stamps (``bus.Bus.reconcile``), then publishes the broadcasts queued
meanwhile (bounded, in order)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

from skitai.cluster import bus as bus_mod
from skitai.cluster import connect, hosts, keys
from skitai.config.cluster import ClusterConfig
from skitai.daemons.context import DaemonContext, MasterGone
from skitai.errors import ExitCode

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 5.0


def host_id(cfg: ClusterConfig, ctx: DaemonContext) -> str:
    """Stable while the master lives (a restarted daemon keeps its host's id); two masters
    on one machine are two hosts."""
    if cfg.host:
        return cfg.host
    return f"{socket.gethostname()}-{os.getppid() if ctx.supervised else os.getpid()}"


def main(ctx: DaemonContext) -> int:
    cfg: ClusterConfig | None = getattr(ctx.server_config, "cluster", None)
    if cfg is None:
        ctx.log.error("cluster: no enable_cluster() or [cluster] url in this configuration")
        return int(ExitCode.BOOT_ERROR)
    return asyncio.run(serve(ctx, cfg))


async def serve(ctx: DaemonContext, cfg: ClusterConfig) -> int:
    me = host_id(cfg, ctx)
    bus = bus_mod.Bus(ctx, prefix=cfg.prefix, host_id=me,
                      lu_keys=getattr(ctx.server_config, "lu_keys", ()),
                      max_message=cfg.max_message, log=ctx.log, max_queue=cfg.max_queue)
    bus.attach(asyncio.get_running_loop())
    ctx.on_broadcast("*")(bus.on_local)
    backoff = BACKOFF_FIRST
    warned = False
    while not ctx.stopping():
        client = connect.async_client(cfg)
        try:
            await session(ctx, cfg, bus, client, me)
            backoff = BACKOFF_FIRST
        except connect.ERRORS as exc:
            if not warned or bus.connected:
                ctx.log.warning("cluster: Redis %s unavailable (%s): this host works alone "
                                "until it is back", cfg.safe_url, exc)
                ctx.status(f"Redis {cfg.safe_url} unavailable: alone")
            warned = True
            if bus.connected:
                backoff = BACKOFF_FIRST
        finally:
            bus.connected = False  # what is queued now waits for the next session
            with contextlib.suppress(*connect.ERRORS):
                await client.aclose()
        if await ctx.wait_async(backoff):
            break
        backoff = min(backoff * 2, BACKOFF_MAX)
    return 0


async def session(ctx: DaemonContext, cfg: ClusterConfig, bus: bus_mod.Bus, client: Any,
                  me: str) -> None:
    """One connected period: returns on stop, raises when Redis fails."""
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(keys.bus(cfg.prefix))
        await bus.reconcile(client)
        bus.connected = True
        ctx.log.info("cluster: host %s joined %s at %s", me, cfg.name, cfg.safe_url)
        tasks = [asyncio.create_task(bus.reader(pubsub)), asyncio.create_task(bus.writer(client)),
                 asyncio.create_task(heartbeat(ctx, cfg, client, me, bus)),
                 asyncio.create_task(ctx.wait_async(None))]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a Redis error propagates to the reconnect loop
        if ctx.stopping():
            with contextlib.suppress(*connect.ERRORS):
                await hosts.leave(client, cfg.prefix, me)
    finally:
        with contextlib.suppress(*connect.ERRORS):
            await pubsub.aclose()


async def heartbeat(ctx: DaemonContext, cfg: ClusterConfig, client: Any, me: str,
                    bus: bus_mod.Bus) -> None:
    loop = asyncio.get_running_loop()
    server = ctx.server_config
    while True:
        ctx.heartbeat()
        processes: list[dict[str, Any]] = []
        if ctx.supervised:
            try:
                answer = await loop.run_in_executor(None, ctx.ask, {"op": "status"}, 5.0)
                processes = [{k: p.get(k) for k in ("role", "slot", "pid", "state")}
                             for p in answer.get("processes", [])]
            except MasterGone:
                pass
        info = {"name": getattr(server, "name", ""), "address": getattr(server, "address", ""),
                "port": getattr(server, "port", 0),
                "master_pid": os.getppid() if ctx.supervised else os.getpid(),
                "processes": processes, "sent": bus.sent, "received": bus.received,
                "queued": bus.queued, "dropped": bus.dropped, "app": getattr(server, "script", "")}
        # What a replay after an outage waits for (shown in ``status --cluster`` rows too).
        info["listeners"] = await bus.count_listeners(client)
        await hosts.beat(client, cfg.prefix, me, info, ttl=cfg.heartbeat * 3)
        ctx.status(f"joined {cfg.name} at {cfg.safe_url} as {me}")
        if await ctx.wait_async(cfg.heartbeat):
            return
