"""The crash-safe file spool: one library for every queue of work skitai keeps on disk
(smtpda's mail, the spooler's tasks).

Theory: every record is ONE file ``<id>.json`` and its state is the directory it sits
in, so every transition is one ``rename`` (atomic on POSIX).  ``tmp/`` holds files being
written (then renamed into ``new/``), ``new/`` holds queued and deferred records, ``cur/``
the ones a runner has claimed, ``sent/`` and ``failed/`` the finished ones kept for
``keep_days``.  A runner killed at any instant leaves its record in ``new/`` or in its
claim directory; ``recover()`` at its next start moves the claim directory back to
``new/``: processed at least once, never lost.  Several runners share one spool by
giving each its own claim directory (``cur.<n>``), so one runner's restart never takes
back what another is still working on.  ``durable`` (the default) fsyncs every write
and its directory, which also survives a power loss; without it a record survives the
death of any process (the page cache keeps it) but not of the machine.

Records carry an ``owner``: a runner asked for ``due(owner=X)`` takes only X's records
(None: untagged ones), so two configurations can share a spool without taking each
other's work.  No pickle: JSON only.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

SUBDIRS = ("tmp", "new", "cur", "sent", "failed")
ANY_OWNER: Any = object()


class State(enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a runner
    DEFERRED = "deferred"
    SENT = "sent"  # done
    FAILED = "failed"


class Input(enum.Enum):
    CLAIM = "claim"
    OK = "ok"
    TEMPFAIL = "tempfail"
    PERMFAIL = "permfail"
    GIVE_UP = "give_up"
    RECOVER = "recover"


class InvalidTransition(Exception):
    pass


TRANSITIONS: dict[tuple[State, Input], State] = {
    (State.QUEUED, Input.CLAIM): State.SENDING,
    (State.DEFERRED, Input.CLAIM): State.SENDING,
    (State.SENDING, Input.OK): State.SENT,
    (State.SENDING, Input.TEMPFAIL): State.DEFERRED,
    (State.SENDING, Input.PERMFAIL): State.FAILED,
    (State.SENDING, Input.GIVE_UP): State.FAILED,
    (State.SENDING, Input.RECOVER): State.QUEUED,
}

# The directory a state lives in (SENDING: the runner's claim directory).
STATE_DIR: dict[State, str] = {
    State.QUEUED: "new", State.DEFERRED: "new", State.SENDING: "cur",
    State.SENT: "sent", State.FAILED: "failed",
}


def next_state(state: State, event: Input) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"{event.value} in state {state.value}") from None


@dataclass(kw_only=True)
class Record:
    id: str
    state: State = State.QUEUED
    created: float = 0.0
    attempts: int = 0
    next_try: float = 0.0
    reason: str | None = None
    finished: float | None = None
    owner: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["state"] = self.state.value
        return json.dumps(d).encode()

    @classmethod
    def from_json(cls: type[R], data: bytes) -> R:
        d = json.loads(data)
        d["state"] = State(d["state"])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


R = TypeVar("R", bound=Record)


def new_id(now: float) -> str:
    """Sortable by creation time: ``due()`` reads ``new/`` oldest first."""
    return f"{now:.6f}.{uuid.uuid4().hex}"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool(Generic[R]):
    def __init__(self, root: str, clock: Callable[[], float] = time.time, *,
                 record_type: type[R], claim_dir: str = "cur", durable: bool = True) -> None:
        self.root = os.path.abspath(root)
        self.clock = clock
        self.record_type = record_type
        self.claim_dir = claim_dir
        self.durable = durable
        for sub in (*SUBDIRS, claim_dir):
            os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)

    def _path(self, sub: str, rid: str) -> str:
        if sub == "cur":
            sub = self.claim_dir
        return os.path.join(self.root, sub, rid + ".json")

    def _write(self, rec: Record, sub: str) -> None:
        tmp = os.path.join(self.root, "tmp", f"{rec.id}.{uuid.uuid4().hex[:8]}.json")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, rec.to_json())
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self._path(sub, rec.id))
        if self.durable:
            _fsync_dir(os.path.dirname(self._path(sub, rec.id)))

    def add(self, rec: R) -> R:
        """Queue a new record (``id`` from ``new_id()``)."""
        self._write(rec, "new")
        return rec

    def recover(self) -> int:
        """Move what a killed runner left in this spool's claim directory back to ``new/``."""
        n = 0
        claims = os.path.join(self.root, self.claim_dir)
        for name in os.listdir(claims):
            try:
                os.rename(os.path.join(claims, name), os.path.join(self.root, "new", name))
                n += 1
            except FileNotFoundError:
                pass
        # Half-written files were never queued; an app may be writing one right now, so
        # only stale ones (an hour, on the file system's clock) are removed.
        for name in os.listdir(os.path.join(self.root, "tmp")):
            path = os.path.join(self.root, "tmp", name)
            try:
                if time.time() - os.stat(path).st_mtime > 3600:
                    os.unlink(path)
            except FileNotFoundError:
                pass
        return n

    def due(self, limit: int, owner: Any = ANY_OWNER) -> list[str]:
        """Ids in ``new/`` whose ``next_try`` has come, oldest first (``owner``: only
        that owner's records; None: untagged ones)."""
        now = self.clock()
        out: list[tuple[float, str]] = []
        for name in sorted(os.listdir(os.path.join(self.root, "new"))):
            rid = name[:-5]
            try:
                with open(self._path("new", rid), "rb") as f:
                    rec = self.record_type.from_json(f.read())
            except (FileNotFoundError, ValueError, TypeError):
                continue
            if owner is not ANY_OWNER and rec.owner != owner:
                continue
            if rec.next_try <= now:
                out.append((rec.next_try, rid))
            if len(out) >= limit:
                break
        return [rid for _, rid in sorted(out)]

    def claim(self, rid: str) -> R | None:
        try:
            os.rename(self._path("new", rid), self._path("cur", rid))
        except FileNotFoundError:
            return None  # someone else claimed it
        with open(self._path("cur", rid), "rb") as f:
            rec = self.record_type.from_json(f.read())
        rec.state = next_state(rec.state, Input.CLAIM)
        return rec

    def finish(self, rec: R, event: Input, *, reason: str | None = None,
               retry_at: float | None = None) -> State:
        """Apply ``event`` to a claimed record: write it into its new state's directory
        first, then drop the claimed copy (a kill in between leaves a duplicate, never a loss)."""
        rec.state = next_state(rec.state, event)
        rec.reason = reason
        if rec.state is State.DEFERRED:
            rec.next_try = retry_at if retry_at is not None else self.clock()
        if rec.state in (State.SENT, State.FAILED):
            rec.finished = self.clock()
        self._write(rec, STATE_DIR[rec.state])
        try:
            os.unlink(self._path("cur", rec.id))
        except FileNotFoundError:
            pass
        return rec.state

    def release(self, rec: R) -> None:
        """Put a claimed record back untouched (runner stopping mid-work)."""
        os.rename(self._path("cur", rec.id), self._path("new", rec.id))

    def purge(self, keep_days: float) -> int:
        limit = self.clock() - keep_days * 86400
        n = 0
        for sub in ("sent", "failed"):
            for rec in self.records(sub):
                if (rec.finished or rec.created) < limit:
                    try:
                        os.unlink(self._path(sub, rec.id))
                        n += 1
                    except FileNotFoundError:
                        pass
        return n

    def records(self, sub: str) -> list[R]:
        out = []
        folder = os.path.join(self.root, self.claim_dir if sub == "cur" else sub)
        for name in os.listdir(folder):
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    out.append(self.record_type.from_json(f.read()))
            except (FileNotFoundError, ValueError, TypeError):
                continue
        return out

    def claimed(self) -> int:
        """Records claimed by any runner of this spool right now."""
        return sum(len(os.listdir(os.path.join(self.root, d))) for d in os.listdir(self.root)
                   if d == "cur" or d.startswith("cur."))

    def depth(self) -> int:
        """Queued, deferred and claimed records: the work not finished yet (cheap: no reads)."""
        return len(os.listdir(os.path.join(self.root, "new"))) + self.claimed()

    def stats(self) -> dict[str, float]:
        queued = deferred = 0
        oldest: float | None = None
        for rec in self.records("new") + self.records("cur"):
            if rec.attempts:
                deferred += 1
            else:
                queued += 1
                oldest = rec.created if oldest is None else min(oldest, rec.created)
        return {"queued": queued, "deferred": deferred,
                "sent": len(os.listdir(os.path.join(self.root, "sent"))),
                "failed": len(os.listdir(os.path.join(self.root, "failed"))),
                "oldest_queued_age": 0.0 if oldest is None else self.clock() - oldest}
