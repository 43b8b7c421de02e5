"""Result cache through was calls: cache(ttl), use_cache, the setlu timestamp."""

from __future__ import annotations

import time

import skitai
from skitai import was
from skitai.was import rcache


def _db(tmp_path):
    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "c.db"))
    db = was.backend("@lite")
    db.execute("CREATE TABLE cities (name TEXT)").wait(5)
    db.execute("INSERT INTO cities VALUES (%s)", ("Seoul",)).wait(5)


def _names(**kw):
    res = was.backend("@lite", **kw).execute("SELECT name FROM cities ORDER BY name").getwait(5)
    return res, [r.name for r in res.data]


def test_cached_result_is_served_within_ttl_and_use_cache_false_bypasses(tmp_path):
    _db(tmp_path)
    res, names = _names()
    assert names == ["Seoul"] and not res.cached
    res.cache(60)
    was.backend("@lite").execute("INSERT INTO cities VALUES (%s)", ("Busan",)).wait(5)
    again, names = _names()
    assert again.cached and names == ["Seoul"]  # from the cache: the backend not asked
    fresh, names = _names(use_cache=False)
    assert not fresh.cached and names == ["Busan", "Seoul"]


def test_ttl_expires(tmp_path):
    _db(tmp_path)
    res, _ = _names()
    res.cache(0.2)
    assert _names()[0].cached
    time.sleep(0.4)
    assert not _names()[0].cached


def test_setlu_timestamp_expires_the_entry(tmp_path):
    _db(tmp_path)
    res, _ = _names(use_cache=was.getlu("cities"))
    res.cache(60)
    assert _names(use_cache=was.getlu("cities"))[0].cached
    time.sleep(0.01)
    was.backend("@lite").execute("INSERT INTO cities VALUES (%s)", ("Busan",)).wait(5)
    was.setlu("cities")
    res, names = _names(use_cache=was.getlu("cities"))
    assert not res.cached and names == ["Busan", "Seoul"]


def test_handle_cache_and_failed_results_are_not_cached(tmp_path):
    _db(tmp_path)
    call = was.backend("@lite").execute("SELECT name FROM cities")
    call.cache(60)  # waits for the result, then keeps it
    assert was.backend("@lite").execute("SELECT name FROM cities").getwait(5).cached
    bad = was.backend("@lite").execute("SELECT nope FROM cities").getwait(5)
    bad.cache(60)
    assert not was.backend("@lite").execute("SELECT nope FROM cities").getwait(5).cached


def test_set_max_rcache_bounds_entries(tmp_path):
    from skitai.was import rcache

    _db(tmp_path)
    rcache.get_cache().resize(2)
    try:
        for i in range(4):
            was.backend("@lite").execute(f"SELECT {i} AS i").getwait(5).cache(60)
        assert len(rcache.get_cache()) == 2
    finally:
        rcache.get_cache().resize(rcache.DEFAULT_MAX)


def test_a_named_parameter_used_twice_on_sqlite(tmp_path):
    skitai.alias("@lite2", skitai.DB_SQLITE3, str(tmp_path / "n.db"))
    res = was.backend("@lite2").execute("SELECT %(a)s AS x, %(a)s || %(b)s AS y",
                                        {"a": "p", "b": "q"}).getwait(5)
    assert res.data == [{"x": "p", "y": "pq"}]


def test_a_statement_and_its_parameters_are_the_key_as_they_were_at_the_call(tmp_path):
    # The key is made only when the cache is used (rcache.deferred), from the statement
    # and the parameters as they were when the call was made.
    _db(tmp_path)
    was.backend("@lite").execute("INSERT INTO cities VALUES (%s)", ("Busan",)).wait(5)
    params = ["Seoul"]
    res = was.backend("@lite").execute("SELECT name FROM cities WHERE name = %s",
                                       params).getwait(5)
    params[0] = "Busan"  # changed before result.cache(): the entry is still Seoul's
    res.cache(60)
    seoul = was.backend("@lite").execute("SELECT name FROM cities WHERE name = %s",
                                         ["Seoul"]).getwait(5)
    assert seoul.cached and [r.name for r in seoul.data] == ["Seoul"]
    busan = was.backend("@lite").execute("SELECT name FROM cities WHERE name = %s",
                                         ["Busan"]).getwait(5)
    assert not busan.cached and [r.name for r in busan.data] == ["Busan"]
    other = was.backend("@lite").execute("SELECT name FROM cities ORDER BY name").getwait(5)
    assert not other.cached  # another statement: its own entry


def test_an_empty_cache_still_counts_misses():
    cache = rcache.ResultCache(4)
    made = []
    assert cache.get(rcache.deferred(made.append, "k")) is None
    assert made == [] and cache.stats()["misses"] == 1  # no key made for an empty cache
    cache.put(rcache.deferred(tuple, "ab"), "value", 60)
    assert cache.get(("a", "b")) == "value" and cache.get(rcache.deferred(tuple, "ab")) == "value"
