"""The mail spool: ``skitai.filespool`` with mail records (envelope and RFC 5322 text).

The spool's theory (one file per message, state by directory, at least once) is in
``skitai.filespool``; the task spooler uses the same library.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skitai.filespool import (
    ANY_OWNER,
    STATE_DIR,
    SUBDIRS,
    TRANSITIONS,
    Input,
    InvalidTransition,
    State,
    new_id,
    next_state,
)
from skitai.filespool import Record as BaseRecord
from skitai.filespool import Spool as FileSpool

__all__ = ["ANY_OWNER", "STATE_DIR", "SUBDIRS", "TRANSITIONS", "Input", "InvalidTransition",
           "Record", "Spool", "State", "next_state"]


@dataclass(kw_only=True)
class Record(BaseRecord):
    mail_from: str
    rcpt_to: list[str]
    eml: str
    # Per-message server override: {"server", "user", "password", "ssl"}; None = daemon's.
    smtp: dict[str, Any] | None = None
    message_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Spool(FileSpool[Record]):
    def __init__(self, root: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(root, clock, record_type=Record)

    def enqueue(self, mail_from: str, rcpt_to: list[str], eml: str, *,
                message_id: str = "", smtp: dict[str, Any] | None = None,
                owner: str | None = None) -> Record:
        now = self.clock()
        rec = Record(id=new_id(now), mail_from=mail_from, rcpt_to=rcpt_to, eml=eml,
                     created=now, next_try=now, smtp=smtp, message_id=message_id, owner=owner)
        return self.add(rec)
