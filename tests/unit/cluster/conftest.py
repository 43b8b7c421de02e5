"""A real Redis (this machine's) under a key prefix unique to each test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.conftest import require_services

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    try:
        redis.Redis.from_url(URL, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        if require_services():
            raise AssertionError(f"Redis at {URL} is required: {exc}") from None
        pytest.skip(f"no Redis at {URL}: {exc}")
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
