"""This machine's PostgreSQL and Redis for the was tests: skip when absent, fail
instead under SKITAI_REQUIRE_SERVICES=1 (CI).  MongoDB runs only with
SKITAI_MONGODB_URL (no server can run here; never required)."""

from __future__ import annotations

import os
import socket

import pytest

from tests.conftest import require_services

PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)


def _up(addr: tuple[str, int]) -> bool:
    try:
        socket.create_connection(addr, timeout=1).close()
        return True
    except OSError:
        return False


def need(name: str, addr: tuple[str, int]) -> None:
    if _up(addr):
        return
    message = f"{name} is not running on {addr[0]}:{addr[1]}"
    if require_services():
        pytest.fail(message + " (SKITAI_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def need_pg() -> None:
    need("PostgreSQL", PG)


def need_redis() -> None:
    need("Redis", REDIS)


def mongodb_url() -> str:
    url = os.environ.get("SKITAI_MONGODB_URL")
    if not url:
        pytest.skip("MongoDB tests run only when SKITAI_MONGODB_URL is set (no MongoDB "
                    "server here; SKITAI_REQUIRE_SERVICES does not demand it)")
    return url
