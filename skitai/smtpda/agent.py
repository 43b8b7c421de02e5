"""The delivery loop: claim due messages from the spool and deliver them with aiosmtplib.

4xx replies and network errors defer with exponential backoff (``base * 2**attempts``,
capped) up to ``max_retry`` attempts; 5xx fails at once with the reason kept.  At most
``concurrency`` deliveries run at once.  Sent and failed records are purged after
``keep_days`` on the spool's (injectable) clock.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiosmtplib

from skitai.config.daemons import SmtpdaConfig
from skitai.smtpda import spool

log = logging.getLogger("skitai.smtpda")


@dataclass
class Outcome:
    event: spool.Input
    reason: str | None = None


def split_server(server: str, ssl: bool) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    if not host:
        return server, 465 if ssl else 25
    return host, int(port)


def classify(exc: BaseException) -> Outcome:
    code = getattr(exc, "code", None)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        code = min(codes) if codes else None
    msg = f"{type(exc).__name__}: {exc}"
    if isinstance(code, int) and 500 <= code < 600:
        return Outcome(spool.Input.PERMFAIL, msg)
    return Outcome(spool.Input.TEMPFAIL, msg)


class Agent:
    def __init__(self, config: SmtpdaConfig, sp: spool.Spool, *, concurrency: int = 8,
                 poll: float = 0.5, backoff_base: float = 30.0, backoff_cap: float = 3600.0,
                 timeout: float = 30.0, tls_context: Any = None,
                 owner: Any = spool.ANY_OWNER) -> None:
        self.config = config
        # Whose messages this agent delivers (see skitai.smtpda.message.owner_of).
        self.owner = owner
        self.spool = sp
        self.concurrency = concurrency
        self.poll = poll
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.tls_context = tls_context
        self._stop = asyncio.Event()
        self.delivered = 0

    def stop(self) -> None:
        self._stop.set()

    async def deliver(self, rec: spool.Record) -> Outcome:
        smtp = rec.smtp or {}
        server = smtp.get("server") or self.config.server
        use_ssl = bool(smtp.get("ssl", self.config.ssl)) if smtp else self.config.ssl
        user = smtp.get("user") if smtp else self.config.user
        password = smtp.get("password") if smtp else self.config.password
        host, port = split_server(server, use_ssl)
        starttls = None if self.config.starttls is None or smtp else self.config.starttls
        try:
            await aiosmtplib.send(
                rec.eml.encode("utf-8", "surrogateescape"), sender=rec.mail_from,
                recipients=rec.rcpt_to, hostname=host, port=port, use_tls=use_ssl,
                start_tls=False if use_ssl else starttls, username=user or None,
                password=password or None, timeout=self.timeout, tls_context=self.tls_context)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return classify(exc)
        return Outcome(spool.Input.OK)

    async def handle(self, rec: spool.Record) -> spool.State:
        out = await self.deliver(rec)
        rec.attempts += 1
        event = out.event
        retry_at = None
        if event is spool.Input.TEMPFAIL:
            if rec.attempts >= self.config.max_retry:
                event = spool.Input.GIVE_UP
            else:
                delay = min(self.backoff_cap, self.backoff_base * 2 ** (rec.attempts - 1))
                retry_at = self.spool.clock() + delay
        state = self.spool.finish(rec, event, reason=out.reason, retry_at=retry_at)
        log.info("mail %s: %s", rec.message_id, state.value,
                 extra={"attempts": rec.attempts, "reason": out.reason})
        if state is spool.State.SENT:
            self.delivered += 1
        return state

    async def run_once(self) -> int:
        """Deliver every message due now (bounded concurrency); returns how many were tried."""
        sem = asyncio.Semaphore(self.concurrency)
        ids = self.spool.due(limit=10_000, owner=self.owner)

        async def one(mid: str) -> None:
            async with sem:
                if self._stop.is_set():
                    return  # stopping: leave the rest queued for the next start
                rec = self.spool.claim(mid)
                if rec is not None:
                    await self.handle(rec)

        await asyncio.gather(*(one(mid) for mid in ids))
        return len(ids)

    async def run(self) -> None:
        self.spool.recover()
        last_purge = 0.0
        while not self._stop.is_set():
            now = self.spool.clock()
            if now - last_purge > 3600:
                self.spool.purge(self.config.keep_days)
                last_purge = now
            n = await self.run_once()
            if n == 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), self.poll)
                except TimeoutError:
                    pass
