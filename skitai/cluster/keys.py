"""The Redis names a cluster uses, all under ``skitai:<name>:`` (``ClusterConfig.prefix``)."""

from __future__ import annotations


def bus(prefix: str) -> str:
    """The pub/sub channel every host's daemon subscribes to."""
    return f"{prefix}:bus"


def lu(prefix: str) -> str:
    """Hash: lu key -> the newest ``time.time()`` any host wrote (repr of the float)."""
    return f"{prefix}:lu"


def host(prefix: str, host_id: str) -> str:
    """String with a TTL: one host's latest heartbeat (JSON)."""
    return f"{prefix}:host:{host_id}"


def hosts(prefix: str) -> str:
    """Hash: host id -> its latest heartbeat (JSON), kept after the TTL key expires (gone hosts)."""
    return f"{prefix}:hosts"


def cron_fire(prefix: str, job: str, slot: float) -> str:
    """Claimed by the one host that runs ``job`` for the fire time ``slot``."""
    return f"{prefix}:cron:{job}:fire:{slot:.0f}"


def cron_run(prefix: str, job: str) -> str:
    """The lease of the host running ``job`` now (its value is the holder's token)."""
    return f"{prefix}:cron:{job}:run"


def cron_fence(prefix: str, job: str) -> str:
    """Counter: each lease gets the next number (the fencing token)."""
    return f"{prefix}:cron:{job}:fence"


def cron_last(prefix: str, job: str) -> str:
    """Hash: the last reported run of ``job`` (host, fence, slot, exit code)."""
    return f"{prefix}:cron:{job}:last"
