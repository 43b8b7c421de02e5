"""The shared memory of one server: process cells and the setlu table.

Theory.  The master maps one anonymous ``MAP_SHARED`` region before its first fork, so
every child (including the ones respawned later) sees the same pages, and nothing has
to be unlinked when the server stops (there is no name).  All fields are 8-byte words
at 8-byte aligned offsets, read and written through ``memoryview.cast("q"/"d")``: one
aligned 8-byte store each, which x86-64 and arm64 never tear.  The request text is
longer than a word, and the thread-pool numbers must be read as one set; each is
guarded by its own sequence counter (a seqlock: odd while being written; a reader
retries when the counter moved).

Layout (offsets in bytes)::

    0    header (64 bytes)
         0  magic b"SKITAILU"
         8  version            (master, at creation): VERSION (3)
        16  number of cells    (master, at creation)
        24  number of lu keys  (master, at creation)
        32  started, time.time() of creation: getlu() of a key never set
    64   cells, CELL_SIZE (320) bytes each; cell i at 64 + i * 320
         word  field          writer
         0     pid            master (after fork; 0 while the cell is free)
         1     in use         master (claim): 1, 0 = free cell
         2     slot           master (claim): "worker #<slot>"
         3     generation     master (claim)
         4     beat           child: time.monotonic() of its last heartbeat (1/s)
         5     ready          child: 1 once it serves
         6     requests       child: requests started so far
         7     connections    child: open connections
         8     request seq    child: seqlock counter of the request text
         9     request since  child: time.monotonic() the request started (0: idle)
         10    request length child
         11-15 role name      master (claim): the process's role ("worker", "smtpda", any
                              daemon's name), UTF-8, NUL-padded, cut at ROLE_SIZE (40) bytes
         16    pool seq       child: seqlock counter of words 17-22 (the fields of
                              ``ThreadCounts``, in order)
         17    threads        child: the WSGI pool's configured threads (0: none, a daemon
                              or threads=0)
         18    max threads    child: threads in all while some wait on was calls
         19    running        child: threads running app code (or about to take a job)
         20    waiting        child: threads parked on a was call (their place lent)
         21    idle           child: threads asleep, waiting for a job
         22    queued         child: jobs (requests) waiting for a thread
         23    (reserved, 0)
         192   request text   child: up to 128 bytes, "GET /path" of what it runs
    64 + cells * 320: the setlu table, one float64 (time.time()) per key declared with
         skitai.addlu(), in declaration order; written by any worker (was.setlu), read by
         all (was.getlu).  0.0 means "never set".

A web worker writes words 16-22 with its heartbeat (once a second, never per request),
so they are up to a second old; a cell nobody wrote them in (a daemon's) reads zeros.

A child writes only its own cell (its index is ``ChildContext.cell``); the master
claims and clears cells, and reads them all.  ``time.monotonic()`` is CLOCK_MONOTONIC,
one clock for every process on the host, so the master can compare a child's beat with
its own clock.
"""

from __future__ import annotations

import mmap
import struct
import time
from typing import Final, NamedTuple

MAGIC: Final = b"SKITAILU"
# 3: the thread pool's numbers, cells of 320 bytes; 2: the role's name in the cell (1 had
# a code per built-in role)
VERSION: Final = 3
HEADER_SIZE: Final = 64
CELL_SIZE: Final = 320
TEXT_OFFSET: Final = 192
TEXT_SIZE: Final = CELL_SIZE - TEXT_OFFSET

# Word indexes inside a cell.
PID, USED, SLOT, GENERATION, BEAT, READY, REQUESTS, CONNECTIONS, REQ_SEQ, REQ_SINCE, REQ_LEN = range(11)
# The role's name, in words 11-15: written by the master before the fork and cleared only
# with the cell, so no reader needs the seqlock the request text has.  Any daemon name,
# not a code table of built-in roles (the shared memory names no daemon).
ROLE_OFFSET: Final = (REQ_LEN + 1) * 8
ROLE_SIZE: Final = 40
# The thread pool's numbers (ThreadCounts, in its field order) follow POOL_SEQ.
POOL_SEQ: Final = (ROLE_OFFSET + ROLE_SIZE) // 8


def _cut(data: bytes, size: int) -> bytes:
    """``data`` cut to ``size`` bytes at a UTF-8 character boundary."""
    return data[:size].decode(errors="ignore").encode()


# REQ_SINCE (a double) and REQ_LEN (a word), which follow REQ_SEQ.
_SINCE_LEN = struct.Struct("=dq")
assert REQ_SINCE == REQ_SEQ + 1 and REQ_LEN == REQ_SEQ + 2


class ThreadCounts(NamedTuple):
    """A web worker's WSGI thread pool, as ``skitai status`` and ``was.status()`` show it
    (all 0 for a daemon, or a worker running apps inline with threads=0)."""

    threads: int = 0      # configured: app code running at once
    max_threads: int = 0  # threads in all, counting those parked on was calls
    threads_running: int = 0  # running app code (or about to take the next job)
    threads_waiting: int = 0  # parked on a was call: their place lent to another thread
    threads_idle: int = 0     # asleep until a job comes (threads start at the first request)
    requests_queued: int = 0  # jobs (requests) waiting for a thread


_POOL = struct.Struct(f"={len(ThreadCounts._fields)}q")
assert POOL_SEQ * 8 == ROLE_OFFSET + ROLE_SIZE
assert (POOL_SEQ + 1) * 8 + _POOL.size <= TEXT_OFFSET


class LuMemory:
    """The mapped region.  Make it in the master before forking; children inherit it."""

    def __init__(self, cells: int, keys: tuple[str, ...] | list[str] = ()) -> None:
        if cells < 1:
            raise ValueError("at least one process cell")
        self.keys: tuple[str, ...] = tuple(dict.fromkeys(keys))
        self._index = {k: i for i, k in enumerate(self.keys)}
        self.cells = cells
        self._lu_base = (HEADER_SIZE + cells * CELL_SIZE) // 8
        size = HEADER_SIZE + cells * CELL_SIZE + max(1, len(self.keys)) * 8
        size = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        self._map = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_ANONYMOUS", 0x20),
                              prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._buf = memoryview(self._map)
        self._q = self._buf.cast("q")
        self._d = self._buf.cast("d")
        self._buf[0:8] = MAGIC
        self._q[1] = VERSION
        self._q[2] = cells
        self._q[3] = len(self.keys)
        self._d[4] = time.time()

    @property
    def started(self) -> float:
        return self._d[4]

    def close(self) -> None:
        for view in (self._q, self._d, self._buf):
            view.release()
        self._map.close()

    # --- the setlu table -----------------------------------------------------------------
    def key_index(self, key: str) -> int:
        try:
            return self._index[key]
        except KeyError:
            declared = ", ".join(self.keys) or "none"
            raise KeyError(f"lu key {key!r} was not declared with skitai.addlu() "
                           f"(declared: {declared})") from None

    def setlu(self, key: str, when: float | None = None) -> float:
        stamp = time.time() if when is None else when
        self._d[self._lu_base + self.key_index(key)] = stamp
        return stamp

    def stamp(self, key: str) -> float:
        """The raw stored time of ``key``: 0.0 when it was never set."""
        return float(self._d[self._lu_base + self.key_index(key)])

    def getlu(self, *keys: str) -> float:
        """The newest update among ``keys`` (all declared keys when none are given);
        a key never set counts as the server's start time."""
        names = keys or self.keys
        started = self.started
        newest = 0.0
        for key in names:
            value = self._d[self._lu_base + self.key_index(key)]
            newest = max(newest, value if value > 0.0 else started)
        return newest if names else started

    # --- process cells ------------------------------------------------------------------
    def cell(self, index: int) -> Cell:
        if not 0 <= index < self.cells:
            raise IndexError(f"cell {index} out of 0..{self.cells - 1}")
        return Cell(self, index)

    def claim(self, role: str, slot: int, generation: int) -> int:
        """Master: take a free cell for a child about to be forked; -1 when all are used."""
        for i in range(self.cells):
            base = self._word(i)
            if self._q[base + USED] == 0:
                self._clear(i)
                self._q[base + USED] = 1
                start = HEADER_SIZE + i * CELL_SIZE + ROLE_OFFSET
                name = _cut(role.encode(), ROLE_SIZE)
                self._buf[start:start + len(name)] = name
                self._q[base + SLOT] = slot
                self._q[base + GENERATION] = generation
                self._d[base + BEAT] = time.monotonic()
                return i
        return -1

    def release(self, index: int) -> None:
        """Master: the child in this cell was reaped."""
        self._clear(index)

    def in_use(self) -> int:
        return sum(1 for i in range(self.cells) if self._q[self._word(i) + USED] != 0)

    def _word(self, index: int) -> int:
        return (HEADER_SIZE + index * CELL_SIZE) // 8

    def _clear(self, index: int) -> None:
        start = HEADER_SIZE + index * CELL_SIZE
        self._buf[start:start + CELL_SIZE] = bytes(CELL_SIZE)


class Cell:
    """One process's cell.  Properties read and write single words."""

    __slots__ = ("_mem", "index", "_base", "_text", "_q", "_seq")

    def __init__(self, mem: LuMemory, index: int) -> None:
        self._mem = mem
        self.index = index
        self._base = mem._word(index)
        self._text = HEADER_SIZE + index * CELL_SIZE + TEXT_OFFSET
        self._q = mem._q  # (for set_request_bytes, once per request)
        self._seq = self._base + REQ_SEQ

    def _get(self, word: int) -> int:
        return self._mem._q[self._base + word]

    def _set(self, word: int, value: int) -> None:
        self._mem._q[self._base + word] = value

    # master-written
    @property
    def pid(self) -> int:
        return self._get(PID)

    @pid.setter
    def pid(self, value: int) -> None:
        self._set(PID, value)

    @property
    def role(self) -> str:
        """The role's name; "" for a free cell."""
        if not self._get(USED):
            return ""
        start = self._text - TEXT_OFFSET + ROLE_OFFSET
        return bytes(self._mem._buf[start:start + ROLE_SIZE]).rstrip(b"\0").decode()

    @property
    def slot(self) -> int:
        return self._get(SLOT)

    @property
    def generation(self) -> int:
        return self._get(GENERATION)

    # child-written
    @property
    def beat(self) -> float:
        return self._mem._d[self._base + BEAT]

    def heartbeat(self, now: float | None = None) -> None:
        self._mem._d[self._base + BEAT] = time.monotonic() if now is None else now

    @property
    def ready(self) -> bool:
        return self._get(READY) == 1

    @ready.setter
    def ready(self, value: bool) -> None:
        self._set(READY, 1 if value else 0)

    @property
    def requests(self) -> int:
        return self._get(REQUESTS)

    @requests.setter
    def requests(self, value: int) -> None:
        self._set(REQUESTS, value)

    @property
    def connections(self) -> int:
        return self._get(CONNECTIONS)

    @connections.setter
    def connections(self, value: int) -> None:
        self._set(CONNECTIONS, value)

    def set_threads(self, counts: ThreadCounts) -> None:
        """Child: its thread pool's numbers (with the heartbeat).  One writer (the loop)."""
        q, i = self._q, self._base + POOL_SEQ
        seq = q[i] + 1
        q[i] = seq  # odd: writing
        _POOL.pack_into(self._mem._buf, (i + 1) * 8, *counts)
        q[i] = seq + 1

    def threads(self) -> ThreadCounts:
        """The thread pool's numbers as last written (all 0: not a pool's worker)."""
        q, i = self._q, self._base + POOL_SEQ
        for _ in range(100):
            seq = q[i]
            if seq % 2:
                continue
            counts = _POOL.unpack_from(self._mem._buf, (i + 1) * 8)
            if q[i] == seq:
                return ThreadCounts(*counts)
        return ThreadCounts()

    def set_request(self, text: str, since: float | None = None) -> None:
        """Child: what it runs now ("" when idle).  One writer per cell (the loop thread)."""
        self.set_request_bytes(text.encode("utf-8", "replace"), since)

    def set_request_bytes(self, data: bytes, since: float | None = None) -> None:
        """``set_request`` for text already encoded (the per-request hot path)."""
        n = len(data)
        if n > TEXT_SIZE:
            data, n = data[:TEXT_SIZE], TEXT_SIZE
        stamp = (time.monotonic() if since is None else since) if n else 0.0
        q, i = self._q, self._seq
        seq = q[i] + 1
        q[i] = seq  # odd: writing
        # The text, then REQ_SINCE and REQ_LEN (the words after REQ_SEQ) in one write.
        start = self._text
        mem = self._mem
        mem._buf[start:start + n] = data
        _SINCE_LEN.pack_into(mem._buf, (i + 1) * 8, stamp, n)
        q[i] = seq + 1

    def request(self) -> tuple[str, float]:
        """Master: (text, monotonic start) of the current request; ("", 0.0) when idle."""
        q = self._mem._q
        for _ in range(100):
            seq = q[self._base + REQ_SEQ]
            if seq % 2:
                continue
            length = max(0, min(TEXT_SIZE, q[self._base + REQ_LEN]))
            data = bytes(self._mem._buf[self._text:self._text + length])
            since = self._mem._d[self._base + REQ_SINCE]
            if q[self._base + REQ_SEQ] == seq:
                return data.decode("utf-8", "replace"), since
        return "", 0.0
