"""A real Redis (this machine's) under a key prefix unique to each test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.fixtures.redisserver import REDIS_URL as URL
from tests.fixtures.redisserver import require_redis


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis(URL)
    name = "skitai:unit" + uuid.uuid4().hex[:10]
    yield name
    client = redis.Redis.from_url(URL, socket_timeout=2)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return loop.run_until_complete(coro)
