"""``skitai.cluster.lock``: one claim per fire, a lease while the job runs, and a fence:
a host that lost its lease cannot report its run (real Redis)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis

from skitai.cluster import keys
from skitai.cluster.lock import OnceLock, job_key
from skitai.config.cluster import ClusterConfig
from tests.unit.cluster.conftest import URL, run


def make(prefix: str, host: str) -> OnceLock:
    cfg = ClusterConfig(url=URL, name=prefix.split(":", 1)[1])
    return OnceLock(cfg, host, logging.getLogger("test"))


def test_one_host_per_fire_and_none_while_it_runs(prefix: str, loop: asyncio.AbstractEventLoop) -> None:
    a, b = make(prefix, "a"), make(prefix, "b")
    job = job_key("* * * * *", "backup.sh")
    lease = run(loop, a.claim("backup", job, 60.0, 30.0, 5.0))
    assert lease is not None and lease.fence == 1
    assert run(loop, b.claim("backup", job, 60.0, 30.0, 5.0)) is None  # same fire
    assert run(loop, b.claim("backup", job, 120.0, 30.0, 5.0)) is None  # a still runs
    assert run(loop, a.renew(lease))
    assert run(loop, a.finish("backup", lease, 0))
    lease2 = run(loop, b.claim("backup", job, 120.0, 30.0, 5.0))
    assert lease2 is not None and lease2.fence == 2
    client = aioredis.Redis.from_url(URL)
    assert run(loop, client.hgetall(keys.cron_last(a.prefix, job)))[b"host"] == b"a"
    run(loop, client.aclose())
    for lock in (a, b):
        run(loop, lock.close())


def test_a_host_that_lost_its_lease_cannot_report(prefix: str, loop: asyncio.AbstractEventLoop,
                                                  caplog: Any) -> None:
    a, b = make(prefix, "a"), make(prefix, "b")
    job = job_key("* * * * *", "report.sh")
    lease = run(loop, a.claim("report", job, 60.0, 30.0, 5.0))
    assert lease is not None
    client = aioredis.Redis.from_url(URL)
    run(loop, client.delete(keys.cron_run(a.prefix, job)))  # the lease ran out (a was paused)
    lease_b = run(loop, b.claim("report", job, 120.0, 30.0, 5.0))
    assert lease_b is not None and lease_b.fence == lease.fence + 1
    with caplog.at_level(logging.ERROR):
        assert not run(loop, a.finish("report", lease, 0))
    assert "lost its lease" in caplog.text
    assert not run(loop, a.renew(lease))
    assert run(loop, b.finish("report", lease_b, 0))
    last = run(loop, client.hgetall(keys.cron_last(a.prefix, job)))
    assert (last[b"host"], last[b"fence"]) == (b"b", str(lease_b.fence).encode())
    run(loop, client.aclose())
    for lock in (a, b):
        run(loop, lock.close())


def test_redis_away_skips_the_fire_with_a_warning(loop: asyncio.AbstractEventLoop, caplog: Any) -> None:
    cfg = ClusterConfig(url="redis://127.0.0.1:1/0", name="nowhere")
    lock = OnceLock(cfg, "a", logging.getLogger("test"))
    with caplog.at_level(logging.WARNING):
        assert run(loop, lock.claim("backup", "j", 60.0, 30.0, 5.0)) is None
    assert "unavailable" in caplog.text and "never twice" in caplog.text
    run(loop, lock.close())


def test_the_lease_outlives_the_timeout() -> None:
    lock = make("skitai:x", "a")
    assert lock.lease_for(600.0, 5.0) > 605.0
    assert lock.lease_for(None, 5.0) > 0
