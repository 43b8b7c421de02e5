"""``was.email(subject, snd, rcpt)``: compose with ``email.message.EmailMessage`` and spool.

``send()`` only writes to the spool (tmp/, fsync, rename into new/): no network in the
request path.  The spool directory is found, in order: ``send(spool=...)``, the value set
by ``configure()`` (the web worker calls it at boot from ``ServerConfig``), the
environment ``SKITAI_SMTPDA_SPOOL``, else ``~/.skitai/smtpda``.  A password given by
``set_smtp()`` is stored inside the message's spool file (mode 0600, spool dir 0700) and
only when it overrides the daemon's server; it is never stored when the daemon has its
own configured server and the message does not name another.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from skitai.smtpda import spool

ENV_SPOOL = "SKITAI_SMTPDA_SPOOL"
_configured: dict[str, Any] = {"spool": None, "default_server": None, "owner": None}


def configure(spool_dir: str, default_server: str | None = None, owner: str | None = None) -> None:
    """Called once at boot by a process that will spool mail (a web worker).  ``owner``:
    the tag of the configuration whose own smtpda delivers these messages (None: a
    standalone daemon on this spool delivers them)."""
    _configured["spool"] = spool_dir
    _configured["default_server"] = default_server
    _configured["owner"] = owner
    os.environ[ENV_SPOOL] = spool_dir


def owner_of(config: Any) -> str:
    """Whose mail it is: one tag per configuration that runs its own smtpda (app file or
    name, and the server it delivers to).  Two apps sharing a spool (both without a
    varpath) each deliver only their own messages, through their own server and
    credentials; untagged messages are a standalone daemon's."""
    smtpda = getattr(config, "smtpda", None)
    origin = getattr(config, "script", None) or getattr(config, "name", "")
    key = f"{origin}|{getattr(config, 'name', '')}|{smtpda.server if smtpda else ''}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def default_spool_dir() -> str:
    return (_configured["spool"] or os.environ.get(ENV_SPOOL)
            or os.path.expanduser("~/.skitai/smtpda"))


def _clean(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} must not contain CR or LF (header injection)")
    return value


def _addresses(value: str | list[str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [_clean(v, "address") for v in items]


class Composer:
    def __init__(self, subject: str, snd: str, rcpt: str | list[str]) -> None:
        self.subject = _clean(subject, "subject")
        self.snd = _clean(snd, "sender")
        self.rcpt = _addresses(rcpt)
        self.headers: list[tuple[str, str]] = []
        self.contents: list[tuple[str, str, str]] = []  # (body, subtype, charset)
        self.attachments: list[tuple[str, str | None, str | None]] = []
        self.smtp: dict[str, Any] | None = None

    def set_smtp(self, server: str, user: str | None = None, password: str | None = None,
                 ssl: bool = False) -> None:
        self.smtp = {"server": server, "user": user, "password": password, "ssl": ssl}

    def set_header(self, name: str, value: str) -> None:
        self.headers.append((_clean(name, "header name"), _clean(value, "header value")))

    def add_content(self, body: str, mime: str = "text/html", charset: str = "utf-8") -> None:
        maintype, _, subtype = mime.partition("/")
        if maintype != "text":
            raise ValueError(f"content must be text/*, got {mime!r}")
        self.contents.append((body, subtype or "plain", charset))

    def add_text(self, body: str, mime: str = "text/plain", charset: str = "utf-8") -> None:
        self.add_content(body, mime, charset)

    def add_attachment(self, path: str, name: str | None = None, cid: str | None = None) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
        self.attachments.append((path, name, cid))

    def build(self) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = self.subject
        msg["From"] = self.snd
        msg["To"] = ", ".join(self.rcpt)
        msg["Date"] = formatdate(localtime=True)  # RFC 5322 3.6: required
        msg["Message-ID"] = make_msgid(domain=self._domain())
        for field, value in self.headers:
            if field.lower() in ("date", "message-id"):  # the caller's own, replacing ours
                del msg[field]
            msg[field] = value
        texts = self.contents or [("", "plain", "utf-8")]
        plain = [c for c in texts if c[1] == "plain"]
        html = [c for c in texts if c[1] != "plain"]
        first = plain[0] if plain else html[0]
        msg.set_content(first[0], subtype=first[1], charset=first[2])
        if plain and html:
            msg.add_alternative(html[0][0], subtype=html[0][1], charset=html[0][2])
        inline = [a for a in self.attachments if a[2]]
        if inline:
            body = msg.get_body(("html",)) or msg
            for path, name, cid in inline:
                ctype, data = self._read(path)
                maintype, subtype = ctype.split("/", 1)
                body.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>",
                                 filename=name or os.path.basename(path), disposition="inline")
        for path, name, cid in self.attachments:
            if cid:
                continue
            ctype, data = self._read(path)
            maintype, subtype = ctype.split("/", 1)
            msg.add_attachment(data, maintype=maintype, subtype=subtype,
                               filename=name or os.path.basename(path))
        return msg

    def _domain(self) -> str | None:
        addrs = getaddresses([self.snd])
        if addrs and "@" in addrs[0][1]:
            return addrs[0][1].rsplit("@", 1)[1]
        return None

    @staticmethod
    def _read(path: str) -> tuple[str, bytes]:
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            return ctype, f.read()

    def send(self, spool_dir: str | None = None) -> str:
        """Spool the message; returns its Message-ID."""
        msg = self.build()
        mail_from = getaddresses([self.snd])[0][1]
        rcpt_to = [a for _, a in getaddresses(self.rcpt)]
        smtp = None
        if self.smtp is not None:
            smtp = dict(self.smtp)
            default = _configured["default_server"]
            if default is not None and smtp["server"] == default:
                smtp = None  # the daemon's own server: keep no credentials in the spool
        sp = spool.Spool(spool_dir or default_spool_dir())
        # A message spooled elsewhere than the configured spool is nobody's in particular.
        owner = _configured["owner"] if spool_dir is None else None
        sp.enqueue(mail_from, rcpt_to, msg.as_string(), message_id=str(msg["Message-ID"]),
                   smtp=smtp, owner=owner)
        return str(msg["Message-ID"])


__all__ = ["Composer", "configure", "default_spool_dir", "owner_of"]
