"""A redis-py client from ``ClusterConfig``: asyncio for the daemons, sync for the CLI."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from skitai.config.cluster import ClusterConfig

# Every Redis call of the cluster gives up after this: a slow or gone Redis must not hold
# a cron fire or a heartbeat (the daemon reconnects with backoff).
SOCKET_TIMEOUT = 5.0


def _options(cfg: ClusterConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_timeout": SOCKET_TIMEOUT,
                               "socket_connect_timeout": SOCKET_TIMEOUT,
                               "health_check_interval": 10}
    if cfg.password is not None:
        options["password"] = cfg.password
    if cfg.username is not None:
        options["username"] = cfg.username
    if cfg.url.startswith("rediss://"):
        for key, value in (("ssl_ca_certs", cfg.ca_file), ("ssl_certfile", cfg.cert_file),
                           ("ssl_keyfile", cfg.key_file)):
            if value:
                options[key] = value
    return options


def async_client(cfg: ClusterConfig, *, retry: bool = True) -> aioredis.Redis:
    """``retry=False``: one attempt per call (a cron fire is skipped at once when Redis is
    away, rather than claimed seconds late by redis-py's retries)."""
    options = _options(cfg)
    if not retry:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options["retry"] = Retry(NoBackoff(), 0)
    return aioredis.Redis.from_url(cfg.url, **options)


def sync_client(cfg: ClusterConfig) -> redis.Redis:
    return redis.Redis.from_url(cfg.url, **_options(cfg))


ERRORS = (redis.RedisError, OSError, TimeoutError)
