"""A real aiosmtpd server for the smtpda tests (in-process, on a free 127.0.0.1 port)."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder:
    def __init__(self, reject: str = "") -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.reject = reject
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if self.reject and address.startswith(self.reject):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted"

    def ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


def start(port: int | None = None, reject: str = "", **kw: Any) -> tuple[Controller, Recorder]:
    rec = Recorder(reject)
    ctl = Controller(rec, hostname="127.0.0.1", port=port or free_port(), **kw)
    ctl.start()
    return ctl, rec
