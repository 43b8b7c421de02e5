import time

from skitai.was import rcache


def test_ttl_lru_and_use_cache_modes():
    cache = rcache.ResultCache(2)
    cache.put("a", 1, 60)
    assert cache.get("a") == 1
    assert cache.get("a", use_cache=False) is None
    cache.put("b", 2, 60)
    cache.get("a")  # a is now the most recently used
    cache.put("c", 3, 60)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    cache.put("d", 4, 0.05)
    time.sleep(0.1)
    assert cache.get("d") is None


def test_a_newer_timestamp_expires_the_entry():
    cache = rcache.ResultCache()
    made = time.time()
    cache.put("k", "v", 60, created=made)
    assert cache.get("k", use_cache=made - 1) == "v"  # updated before the entry: fresh
    assert cache.get("k", use_cache=made + 1) is None  # updated after: stale, and dropped
    assert cache.get("k") is None


def test_resize_and_stats():
    cache = rcache.ResultCache(5)
    for i in range(5):
        cache.put(i, i, 60)
    cache.resize(2)
    assert len(cache) == 2 and cache.get(4) == 4
    stats = cache.stats()
    assert stats["hits"] == 1 and stats["max"] == 2
