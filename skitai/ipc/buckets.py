"""Token buckets in shared memory: one rate limit counted across all workers.

Theory.  ``skitai.set_rate_limit()`` runs in the master (app.py is executed there, before
the first fork), which maps an anonymous ``MAP_SHARED`` table here and makes one
process-shared lock; the forked workers inherit both, so a client's bucket is the same
whichever worker serves it.  A slot is four 8-byte words: the key's 64-bit hash, the
tokens left, when they were counted (``time.monotonic()``: one clock for every process
on the host) and a spare.  A key lives at ``hash % slots`` or up to ``PROBE`` slots
further; when all of those are taken, the one idle longest is reused (a client unseen
for a while starts with a full bucket, which is what it would have by now anyway).

The read-modify-write of a bucket holds the lock (a POSIX semaphore, well under a
microsecond uncontended).  Layer 0: standard library only.
"""

from __future__ import annotations

import hashlib
import mmap
import multiprocessing
from typing import Final

WORDS: Final = 4
PROBE: Final = 8


class BucketTable:
    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self.slots = slots
        size = slots * WORDS * 8
        size = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        self._map = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_ANONYMOUS", 0x20),
                              prot=mmap.PROT_READ | mmap.PROT_WRITE)
        view = memoryview(self._map)
        self._q = view.cast("q")
        self._d = view.cast("d")
        self._lock = multiprocessing.get_context("fork").Lock()

    def take(self, key: str, rate: float, burst: int, now: float) -> float:
        """Spend one token of ``key``'s bucket.  Returns 0.0 when allowed, else the
        seconds until a token is available (for Retry-After)."""
        h = int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogateescape"),
                                           digest_size=8).digest(), "little", signed=True) or 1
        q, d, slots = self._q, self._d, self.slots
        with self._lock:
            base = (h % slots)
            victim = -1
            oldest = float("inf")
            for i in range(min(PROBE, slots)):
                at = ((base + i) % slots) * WORDS
                found = q[at]
                if found == h:
                    tokens = min(float(burst), d[at + 1] + (now - d[at + 2]) * rate)
                    break
                if found == 0:
                    victim, oldest = at, -1.0
                    break
                if d[at + 2] < oldest:
                    victim, oldest = at, d[at + 2]
            else:
                at, found = victim, 0
            if found != h:
                at = victim
                q[at] = h
                tokens = float(burst)
            if tokens >= 1.0:
                d[at + 1] = tokens - 1.0
                d[at + 2] = now
                return 0.0
            d[at + 1] = tokens
            d[at + 2] = now
            return (1.0 - tokens) / rate


_shared: BucketTable | None = None


def shared(slots: int) -> BucketTable:
    """The table of this server: made on first call (in the master, before fork)."""
    global _shared
    if _shared is None or _shared.slots != slots:
        _shared = BucketTable(slots)
    return _shared


def existing() -> BucketTable | None:
    return _shared
