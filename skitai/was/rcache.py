"""The result cache of one worker (README "Caching Result").

A bounded LRU map from a call's key (what was called, where, with which arguments) to
its result, with an expiry per entry.  ``result.cache(ttl)`` stores; the next identical
call made with ``use_cache`` true is answered from here without touching the backend:

- ``use_cache=False``: never answered from the cache (the result may still be stored);
- ``use_cache=True``: answered while the entry is younger than its ttl;
- ``use_cache=<timestamp>`` (``was.getlu("cities")``): also only if the entry was made
  after that time.  ``was.setlu("cities")`` in any worker moves the shared timestamp,
  so every worker's older entries stop being used at once: the model-synchronized cache.

``skitai.set_max_rcache(n)`` bounds the entries (least recently used go first).  Every
method may be called from any thread.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from typing import Any

DEFAULT_MAX = 300
UseCache = bool | float | int


class ResultCache:
    def __init__(self, max_entries: int = DEFAULT_MAX) -> None:
        self.max_entries = max_entries
        self._entries: collections.OrderedDict[Any, tuple[Any, float, float]] = \
            collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any, use_cache: UseCache = True) -> Any:
        """The cached value, or ``None`` (a miss, expired, older than ``use_cache``).
        ``key`` may be deferred (``deferred``): it is made only if there are entries."""
        if use_cache is False or key is None:
            return None
        if not self._entries:
            # The usual case for an app that caches nothing: no key, no clock, no lock.
            # (No lock for the count: a statistic, where a rare lost increment does no harm.)
            self.misses += 1
            return None
        if type(key) is functools.partial:
            key = key()
        since = 0.0 if use_cache is True else float(use_cache)
        now = time.time()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            value, created, expires = entry
            if expires <= now or created < since:
                del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Any, value: Any, ttl: float, created: float | None = None) -> None:
        """Keep ``value`` for ``ttl`` seconds; ``created`` (default now) is what a
        ``use_cache`` timestamp is compared with."""
        if ttl <= 0 or self.max_entries <= 0:
            return
        if type(key) is functools.partial:
            key = key()
        now = time.time()
        with self._lock:
            self._entries[key] = (value, now if created is None else created, now + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def resize(self, max_entries: int) -> None:
        with self._lock:
            self.max_entries = max_entries
            while len(self._entries) > max(max_entries, 0):
                self._entries.popitem(last=False)

    def stats(self) -> dict[str, Any]:
        asked = self.hits + self.misses
        return {"entries": len(self._entries), "max": self.max_entries, "hits": self.hits,
                "misses": self.misses, "hit_rate": (self.hits / asked) if asked else 0.0}


_cache = ResultCache()


def get_cache() -> ResultCache:
    return _cache


# ``deferred(make, *args)``: a key made by ``make(*args)`` only when the cache is asked or
# written (most calls find it empty and are never stored); pass it where a key goes.
# ``args`` must not change meanwhile (``result.cache()`` may come later): make a mutable
# part immutable (``repr``) first.  A ``functools.partial``: made in C, no Python frame.
deferred = functools.partial


def check_use_cache(value: object) -> UseCache:
    if isinstance(value, bool | int | float):
        return value
    raise TypeError(f"use_cache is True, False or a timestamp (was.getlu(...)), not {value!r}")
