from __future__ import annotations

import email.utils
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from skitai.gateway.cache import HttpCache, directives, lifetime


def test_freshness_lifetime() -> None:
    h = [(b"cache-control", b"public, max-age=60, s-maxage=120")]
    assert lifetime(h, directives(h)) == 120
    h = [(b"cache-control", b"max-age=60")]
    assert lifetime(h, directives(h)) == 60
    now = time.time()
    h = [(b"date", email.utils.formatdate(now, usegmt=True).encode()),
         (b"expires", email.utils.formatdate(now + 300, usegmt=True).encode())]
    assert 298 <= lifetime(h, directives(h)) <= 301
    h = [(b"expires", b"not a date")]
    assert lifetime(h, directives(h)) == 0


def test_what_may_be_stored(tmp_path: Path) -> None:
    c = HttpCache(1 << 20, 0, None)
    ok = [(b"cache-control", b"max-age=60")]
    assert c.storable(200, [], ok, 10) is not None
    assert c.storable(500, [], ok, 10) is None
    assert c.storable(200, [], [(b"cache-control", b"no-store")], 10) is None
    assert c.storable(200, [], [(b"cache-control", b"private, max-age=60")], 10) is None
    assert c.storable(200, [], [*ok, (b"vary", b"*")], 10) is None
    assert c.storable(200, [], [], 10) is None  # no lifetime, no validator
    assert c.storable(200, [], [(b"etag", b'"x"')], 10) is not None  # revalidatable
    auth = [(b"authorization", b"Bearer t")]
    assert c.storable(200, auth, ok, 10) is None
    assert c.storable(200, auth, [(b"cache-control", b"public, max-age=60")], 10) is not None
    assert c.storable(200, [], ok, (1 << 20) // 8 + 1) is None  # too large


def test_vary_and_lru_bounds() -> None:
    c = HttpCache(2000, 0, None)
    key = c.key(b"h", b"/x")
    headers = [(b"cache-control", b"max-age=60"), (b"vary", b"Accept-Language")]
    c.store(key, [(b"accept-language", b"ko")], 200, b"OK", headers, b"ko")
    c.store(key, [(b"accept-language", b"en")], 200, b"OK", headers, b"en")
    assert c.lookup(key, [(b"accept-language", b"ko")]).body == b"ko"  # type: ignore[union-attr]
    assert c.lookup(key, [(b"accept-language", b"en")]).body == b"en"  # type: ignore[union-attr]
    assert c.lookup(key, []) is None
    for i in range(20):  # memory stays within memmax: the oldest keys go
        c.store(c.key(b"h", b"/%d" % i), [], 200, b"OK", headers[:1], b"x" * 200)
    assert c._mem_size <= 2000 and c.lookup(key, [(b"accept-language", b"ko")]) is None


def test_disk_is_shared_and_bounded(tmp_path: Path) -> None:
    one = HttpCache(0, 64 * 1024, str(tmp_path))
    key = one.key(b"h", b"/shared")
    one.store(key, [], 200, b"OK", [(b"cache-control", b"max-age=60"), (b"etag", b'"1"')], b"body")
    other = HttpCache(0, 64 * 1024, str(tmp_path))  # another worker
    entry = other.lookup(key, [])
    assert entry is not None and entry.body == b"body" and entry.fresh(time.time())
    assert entry.validators() == [(b"if-none-match", b'"1"')]
    for i in range(40):
        one.store(one.key(b"h", b"/%d" % i), [], 200, b"OK", [(b"cache-control", b"max-age=60")],
                  b"y" * 4000)
    total = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert total <= 64 * 1024


def test_revalidation_refreshes() -> None:
    c = HttpCache(1 << 20, 0, None)
    key = c.key(b"h", b"/r")
    entry = c.store(key, [], 200, b"OK", [(b"cache-control", b"no-cache"), (b"etag", b'"v"')], b"x")
    assert entry is not None and not entry.fresh(time.time())
    c.refresh(key, entry, [(b"cache-control", b"max-age=30"), (b"etag", b'"v"')])
    assert entry.fresh(time.time()) and (b"cache-control", b"max-age=30") in entry.headers


def test_fill_lock_between_two_workers_caches(tmp_path: Path) -> None:
    """Two caches on one directory stand for two workers: the second waits for the
    first's fill, then reads its entry; a fill that takes too long is given up on."""
    import asyncio
    import os
    import subprocess
    import sys

    a = HttpCache(1 << 20, 1 << 20, str(tmp_path))
    b = HttpCache(1 << 20, 1 << 20, str(tmp_path), fill_timeout=5)
    key = a.key(b"h", b"/x")
    ok = [(b"cache-control", b"max-age=60")]

    async def scenario() -> None:
        held = await a.lock_fill(key)
        assert held is not None and not held.waited
        waiting = asyncio.ensure_future(b.lock_fill(key))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # b waits while a fills
        a.store(key, [], 200, b"OK", ok, b"body")
        a.unlock_fill(held)
        got = await waiting
        assert got is not None and got.waited
        entry = b.reload(key, [])
        assert entry is not None and entry.body == b"body"
        b.unlock_fill(got)
        assert not list(tmp_path.rglob("*.lock"))
        # a holder that hangs: the waiter gives up after fill_timeout and fetches itself
        hung = await a.lock_fill(key)
        b.fill_timeout = 0.2
        assert await b.lock_fill(key) is None
        a.unlock_fill(hung)

    _run(scenario())
    # a holder that dies: the kernel drops its lock
    path = a._file(key) + ".lock"
    child = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({path!r}, os.O_CREAT | os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        b.fill_timeout = 30

        async def after_death() -> None:
            waiting = asyncio.ensure_future(b.lock_fill(key))
            await asyncio.sleep(0.1)
            assert not waiting.done()
            child.kill()
            got = await waiting
            assert got is not None and got.waited
            b.unlock_fill(got)
        _run(after_death())
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert not os.path.exists(path)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.close()
