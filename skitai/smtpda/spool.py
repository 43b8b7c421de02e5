"""The mail spool: a maildir-like directory shared by the app and the daemon.

Theory: every message is ONE file ``<id>.json`` (metadata and the RFC 5322 text) and
its state is the directory it sits in, so every transition is one ``rename`` (atomic on
POSIX).  ``tmp/`` holds files being written (fsync, then rename into ``new/``), ``new/``
holds queued and deferred messages, ``cur/`` the ones a daemon has claimed (sending),
``sent/`` and ``failed/`` the records kept for ``keep_days``.  A daemon killed at any
instant leaves a message in ``new/`` or ``cur/``; ``recover()`` at start moves ``cur/``
back to ``new/``: delivered at least once, never lost.  No pickle: JSON only.
"""

from __future__ import annotations

import enum
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUBDIRS = ("tmp", "new", "cur", "sent", "failed")


class State(enum.Enum):
    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    SENT = "sent"
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

# The directory a state lives in.
STATE_DIR: dict[State, str] = {
    State.QUEUED: "new", State.DEFERRED: "new", State.SENDING: "cur",
    State.SENT: "sent", State.FAILED: "failed",
}


def next_state(state: State, event: Input) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(f"{event.value} in state {state.value}") from None


@dataclass
class Record:
    id: str
    mail_from: str
    rcpt_to: list[str]
    eml: str
    state: State = State.QUEUED
    created: float = 0.0
    attempts: int = 0
    next_try: float = 0.0
    reason: str | None = None
    finished: float | None = None
    # Per-message server override: {"server", "user", "password", "ssl"}; None = daemon's.
    smtp: dict[str, Any] | None = None
    message_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["state"] = self.state.value
        return json.dumps(d).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Record:
        d = json.loads(data)
        d["state"] = State(d["state"])
        return cls(**d)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, root: str, clock: Callable[[], float] = time.time) -> None:
        self.root = os.path.abspath(root)
        self.clock = clock
        for sub in SUBDIRS:
            os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)

    def _path(self, sub: str, mid: str) -> str:
        return os.path.join(self.root, sub, mid + ".json")

    def _write(self, rec: Record, sub: str) -> None:
        tmp = self._path("tmp", rec.id + "." + uuid.uuid4().hex[:8])
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, rec.to_json())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self._path(sub, rec.id))
        _fsync_dir(os.path.join(self.root, sub))

    def enqueue(self, mail_from: str, rcpt_to: list[str], eml: str, *,
                message_id: str = "", smtp: dict[str, Any] | None = None) -> Record:
        now = self.clock()
        rec = Record(id=f"{now:.6f}.{uuid.uuid4().hex}", mail_from=mail_from, rcpt_to=rcpt_to,
                     eml=eml, created=now, next_try=now, smtp=smtp, message_id=message_id)
        self._write(rec, "new")
        return rec

    def recover(self) -> int:
        """Move messages a killed daemon left in ``cur/`` back to ``new/``."""
        n = 0
        for name in os.listdir(os.path.join(self.root, "cur")):
            try:
                os.rename(os.path.join(self.root, "cur", name), os.path.join(self.root, "new", name))
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

    def due(self, limit: int) -> list[str]:
        """Ids in ``new/`` whose ``next_try`` has come, oldest first."""
        now = self.clock()
        out: list[tuple[float, str]] = []
        for name in sorted(os.listdir(os.path.join(self.root, "new"))):
            mid = name[:-5]
            try:
                with open(self._path("new", mid), "rb") as f:
                    rec = Record.from_json(f.read())
            except (FileNotFoundError, ValueError):
                continue
            if rec.next_try <= now:
                out.append((rec.next_try, mid))
            if len(out) >= limit:
                break
        return [mid for _, mid in sorted(out)]

    def claim(self, mid: str) -> Record | None:
        try:
            os.rename(self._path("new", mid), self._path("cur", mid))
        except FileNotFoundError:
            return None  # someone else claimed it
        with open(self._path("cur", mid), "rb") as f:
            rec = Record.from_json(f.read())
        rec.state = next_state(rec.state, Input.CLAIM)
        return rec

    def finish(self, rec: Record, event: Input, *, reason: str | None = None,
               retry_at: float | None = None) -> State:
        """Apply ``event`` to a claimed record: write it into its new state's directory
        first, then drop the ``cur/`` copy (a kill in between leaves a duplicate, never a loss)."""
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

    def release(self, rec: Record) -> None:
        """Put a claimed message back untouched (daemon stopping mid-delivery)."""
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

    def records(self, sub: str) -> list[Record]:
        out = []
        for name in os.listdir(os.path.join(self.root, sub)):
            try:
                with open(os.path.join(self.root, sub, name), "rb") as f:
                    out.append(Record.from_json(f.read()))
            except (FileNotFoundError, ValueError):
                continue
        return out

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
