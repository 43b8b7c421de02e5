"""One host per fire time for ``cluster="once"`` cron jobs (RedBeat's lock, with a fence).

Every host's cron computes the same fire times and calls ``claim`` for each.  One script,
atomically: the first host sets the fire's key (``keys.cron_fire``: nobody runs that slot
again, even after a Redis failover that keeps the data), takes the job's lease
(``keys.cron_run``, value ``token:fence``, where the fence is the next number of a
counter), and runs the job.  Another host finds the fire's key and skips; a host that
finds the lease held (the previous run is still going elsewhere) skips too.

The lease outlives the job: it is the job's timeout plus the kill grace plus a margin,
renewed while the job runs.  ``finish`` reports the run only if the lease still holds
this host's token and fence: a host that lost its lease (paused, cut off past the lease)
cannot report success, and says so.  Redis away at the fire: the run is skipped with a
warning, never run twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from skitai.cluster import connect, keys
from skitai.config.cluster import ClusterConfig

LEASE_MARGIN = 30.0  # seconds of lease beyond timeout + kill grace
NO_TIMEOUT_LEASE = 120.0  # a job without a timeout: renewed every third of this
SKIPPED_FIRE, SKIPPED_RUNNING = -1, -2

CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
local fence = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1] .. ':' .. fence, 'PX', ARGV[3])
return fence
"""
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'host', ARGV[2], 'fence', ARGV[3], 'slot', ARGV[4], 'code', ARGV[5])
return 1
"""


@dataclass(frozen=True)
class Lease:
    job: str
    slot: float
    fence: int
    value: str  # token:fence, what the run key holds while the lease is ours
    ttl: float


def job_key(spec: str, command: str) -> str:
    """The same on every host for the same job line."""
    return hashlib.sha1(f"{spec}\0{command}".encode()).hexdigest()[:20]


class OnceLock:
    def __init__(self, cfg: ClusterConfig, host_id: str, log: logging.Logger,
                 client: aioredis.Redis | None = None) -> None:
        self.cfg = cfg
        self.prefix = cfg.prefix
        self.host_id = host_id
        self.log = log
        self._client = client
        # Runs that ended while Redis was away: reported (their lease freed) at the next
        # claim, so a finished job does not hold its lease until the TTL.
        self._unreported: list[tuple[str, Lease, int | None]] = []

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = connect.async_client(self.cfg, retry=False)
        return self._client

    def lease_for(self, timeout: float | None, kill_grace: float) -> float:
        return (timeout + kill_grace + LEASE_MARGIN) if timeout else NO_TIMEOUT_LEASE

    async def claim(self, name: str, job: str, slot: float, lease: float,
                    grace: float) -> Lease | None:
        """The lease of this fire, or None (another host has it, or Redis is away: logged)."""
        for pending in self._unreported[:]:
            self._unreported.remove(pending)
            await self.finish(*pending)
        token = f"{self.host_id}:{secrets.token_hex(6)}"
        fire_ttl = lease + grace + LEASE_MARGIN
        try:
            fence = int(await self.client.eval(
                CLAIM, 3, keys.cron_fire(self.prefix, job, slot), keys.cron_run(self.prefix, job),
                keys.cron_fence(self.prefix, job), token, int(fire_ttl * 1000), int(lease * 1000)))
        except connect.ERRORS as exc:
            self.log.warning("[%s] cluster='once': Redis %s unavailable (%s): skipped the run "
                             "for %s (never twice)", name, self.cfg.safe_url, exc, _stamp(slot))
            return None
        if fence == SKIPPED_FIRE:
            self.log.info("[%s] cluster='once': another host runs the fire of %s", name,
                          _stamp(slot))
            return None
        if fence == SKIPPED_RUNNING:
            self.log.warning("[%s] cluster='once': still running on another host: skipped the "
                             "run for %s", name, _stamp(slot))
            return None
        return Lease(job, slot, fence, f"{token}:{fence}", lease)

    async def renew(self, lease: Lease) -> bool:
        try:
            return bool(await self.client.eval(
                RENEW, 1, keys.cron_run(self.prefix, lease.job), lease.value, int(lease.ttl * 1000)))
        except connect.ERRORS:
            return True  # not lost yet: the lease runs until its TTL; finish will tell

    async def finish(self, name: str, lease: Lease, code: int | None) -> bool:
        """Report the run and free the lease; False (logged) when the lease was lost."""
        try:
            held = await self.client.eval(
                FINISH, 2, keys.cron_run(self.prefix, lease.job), keys.cron_last(self.prefix, lease.job),
                lease.value, self.host_id, lease.fence, repr(lease.slot), "" if code is None else code)
        except connect.ERRORS as exc:
            self.log.warning("[%s] cluster='once': could not report the run (fence %d) to "
                             "Redis: %s; retried at the next fire", name, lease.fence, exc)
            self._unreported.append((name, lease, code))
            return False
        if not held:
            self.log.error("[%s] cluster='once': this host lost its lease (fence %d) before "
                           "the run ended: its result is not reported", name, lease.fence)
        return bool(held)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
