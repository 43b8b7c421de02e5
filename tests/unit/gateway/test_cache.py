from __future__ import annotations

import email.utils
import time
from pathlib import Path

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
