"""Hosts of one cluster on this machine: each a real master (``WebApp``) in its own
folder on port 0, all against one Redis under a cluster name unique to the test."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import redis

from skitai.cluster import hosts as hosts_mod
from tests.fixtures.master import wait_for
from tests.fixtures.redisserver import REDIS_URL, OwnRedis, require_redis  # noqa: F401 - re-exported
from tests.fixtures.web import WebApp  # noqa: F401 - re-exported for the tests


def unique_name() -> str:
    return "t" + uuid.uuid4().hex[:12]


def cleanup(url: str, name: str) -> None:
    with __import__("contextlib").suppress(redis.RedisError, OSError):
        client = redis.Redis.from_url(url, socket_timeout=2)
        for key in client.scan_iter(f"skitai:{name}:*"):
            client.delete(key)


def start_hosts(tmp: Path, count: int, *, name: str, url: str = REDIS_URL, setup: str = "",
                run_args: str = "workers=2", options: str = "") -> list[WebApp]:
    """Host i has ``HOST_TAG=host<i>`` in its environment (its cron jobs see it);
    ``options`` go into enable_cluster() (``", max_queue=3"``)."""
    apps = []
    for i in range(count):
        folder = tmp / f"host{i}"
        folder.mkdir()
        apps.append(WebApp(folder, run_args=run_args, env={"HOST_TAG": f"host{i}"}, setup=(
            f'skitai.addlu("k", "other")\n'
            f'skitai.enable_cluster({url!r}, name={name!r}{options})\n{setup}')))
    return apps


def alive_hosts(url: str, name: str) -> list[dict[str, Any]]:
    try:
        rows = hosts_mod.listing(redis.Redis.from_url(url, socket_timeout=2), f"skitai:{name}")
    except (redis.RedisError, OSError):
        return []
    return [r for r in rows if r["alive"]]


def wait_joined(url: str, name: str, count: int, timeout: float = 60.0) -> None:
    wait_for(lambda: len(alive_hosts(url, name)) >= count, timeout=timeout, every=0.2)


def worker_pids(app: WebApp, count: int = 2) -> list[int]:
    rows = wait_for(lambda: len(app.rows("worker")) >= count and app.rows("worker"), timeout=30)
    return [r["pid"] for r in rows]


def settle(seconds: float) -> None:
    time.sleep(seconds)


def kill_host(app: WebApp) -> None:
    """kill -9 of a whole host: its master and every child (they may not outlive it)."""
    import psutil

    try:
        procs = psutil.Process(app.pid).children(recursive=True) + [psutil.Process(app.pid)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with __import__("contextlib").suppress(psutil.NoSuchProcess):
            p.kill()


def fires(path: Path) -> list[tuple[str, float]]:
    """The lines the once-job wrote: (host tag, start time)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        tag, _, when = line.partition(" ")
        out.append((tag, float(when)))
    return sorted(out, key=lambda x: x[1])


def claimed_fires(url: str, name: str) -> int:
    client = redis.Redis.from_url(url, socket_timeout=2)
    return sum(1 for _ in client.scan_iter(f"skitai:{name}:cron:*:fire:*"))
