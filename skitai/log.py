"""Logging: the server/app loggers and the request (access) log.

The access line is a pure function of an ``AccessRecord`` (unit-tested), in the order of
the README's "Log Format" section:

    date time client host method uri version rbytes status sbytes gtxid ltxid
    "user" token "referer" "user-agent" xff worker connections ms-handle ms-send

Free-text fields are quoted and escaped (a ``"`` or a control character in a User-Agent
cannot break the line); a bearer token is never written: we log the first 8 hex digits
of its SHA-256, enough to correlate, useless to replay.  Files are line-buffered so no
line is lost when a process stops (the original lost the tail of every log).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import TextIO

_ESCAPES = {i: f"\\x{i:02x}" for i in range(32)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", 0x7F: "\\x7f"})


def quote(value: str | None) -> str:
    """``-`` for nothing, else the value in double quotes with ``"``, ``\\`` and control
    characters escaped."""
    if not value:
        return "-"
    return '"' + value.translate(_ESCAPES) + '"'


def bare(value: str | None) -> str:
    """An unquoted field: no spaces or quotes allowed through."""
    if not value:
        return "-"
    return value.translate(_ESCAPES).replace(" ", "%20")


def token_digest(authorization: str | None) -> str:
    if not authorization or not authorization[:7].lower() == "bearer ":
        return "-"
    token = authorization[7:].strip()
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:8]


# Status logged for a request whose connection ended before a full response: 499 when the
# client closed it (nginx's code), 444 when the server did (a fast stop, the graceful
# timeout, an abort): the log never blames the client for the server's close.
CLIENT_CLOSED = 499
SERVER_CLOSED = 444


def basic_user(authorization: str | None) -> str | None:
    """The user name of a ``Basic`` Authorization header (never the password), as nginx's
    ``$remote_user``; None for any other scheme or a header that does not decode."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user = decoded.split(":", 1)[0]
    return user or None


@dataclass(slots=True)
class AccessRecord:
    when: float
    client: str
    host: str | None
    method: str
    uri: str
    version: str
    request_bytes: int
    status: int
    response_bytes: int
    gtxid: str
    ltxid: str
    user: str | None
    authorization: str | None
    referer: str | None
    user_agent: str | None
    forwarded_for: str | None
    worker: str
    connections: int
    handle_ms: float
    send_ms: float
    # A proxied request: "member/NNms" (the member that answered and its time).
    upstream: str | None = None


def format_access(r: AccessRecord) -> str:
    t = time.localtime(r.when)
    line = (
        f"{t.tm_year:04d}.{t.tm_mon:02d}.{t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} "
        f"{bare(r.client)} {bare(r.host)} {bare(r.method)} {bare(r.uri)} {r.version} "
        f"{r.request_bytes} {r.status} {r.response_bytes} {bare(r.gtxid)} {bare(r.ltxid)} "
        f"{quote(r.user or basic_user(r.authorization))} {token_digest(r.authorization)} "
        f"{quote(r.referer)} "
        f"{quote(r.user_agent)} {bare(r.forwarded_for)} {r.worker} {r.connections} "
        f"{r.handle_ms:.0f} {r.send_ms:.0f}"
    )
    if r.upstream is not None:
        line += f" upstream={bare(r.upstream)}"
    return line


class LogOff:
    """``skitai.log_off('/static/', '*.css')``: exact prefix or glob, on the path only
    (a query string cannot defeat a ``*.css`` rule; no per-directory cache)."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.prefixes = tuple(p for p in patterns if not p.startswith("*"))
        self.globs = tuple(p for p in patterns if p.startswith("*"))
        # ``log_off("/")``: no request is logged, and none needs its path looked at.
        self.everything = "/" in self.prefixes

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.globs)

    def skip(self, path: str) -> bool:
        if self.prefixes and path.startswith(self.prefixes):
            return True
        return any(fnmatch.fnmatchcase(path, g) for g in self.globs)


class LineFile:
    """An append-only, line-buffered text file that can be reopened (USR1, rotation)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: TextIO = self._open()

    def _open(self) -> TextIO:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        return open(self.path, "a", buffering=1, encoding="utf-8", errors="replace")

    def write(self, line: str) -> None:
        self._file.write(line + "\n")

    def reopen(self) -> None:
        old, self._file = self._file, self._open()
        old.close()

    def close(self) -> None:
        self._file.close()


class ConsoleFile:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class Tee:
    def __init__(self, *files: LineFile | ConsoleFile) -> None:
        self.files = files

    def write(self, line: str) -> None:
        for f in self.files:
            f.write(line)

    def reopen(self) -> None:
        for f in self.files:
            f.reopen()

    def close(self) -> None:
        for f in self.files:
            f.close()


Sink = LineFile | ConsoleFile | Tee

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


def reopen_handler(handler: logging.Handler) -> None:
    """Reopen a ``FileHandler``'s file (after logrotate moved it); others are left alone."""
    if not isinstance(handler, logging.FileHandler):
        return
    handler.acquire()
    try:
        if handler.stream:
            handler.stream.close()
        handler.stream = handler._open()
    finally:
        handler.release()


class Logs:
    """The three logs of a process: ``server`` and ``app`` through ``logging``, and
    ``request`` written directly (it is on the hot path: no handler chain)."""

    def __init__(self, logpath: str | None, verbose: bool, prefix: str = "") -> None:
        self.logpath = logpath
        self.verbose = verbose
        self._handlers: list[logging.Handler] = []
        self.request: Sink = self._sink(f"{prefix}request.log")
        self._configure_logging(prefix)

    def _sink(self, name: str) -> Sink:
        if not self.logpath:
            return ConsoleFile(sys.stdout)
        file = LineFile(os.path.join(self.logpath, name))
        return Tee(file, ConsoleFile(sys.stdout)) if self.verbose else file

    def _configure_logging(self, prefix: str) -> None:
        formatter = logging.Formatter(LOG_FORMAT)
        targets = {"skitai": f"{prefix}server.log", "skitai.app": f"{prefix}app.log"}
        for name, filename in targets.items():
            logger = logging.getLogger(name)
            for h in list(logger.handlers):
                logger.removeHandler(h)
            logger.setLevel(logging.INFO)
            logger.propagate = False
            handlers: list[logging.Handler] = []
            if self.logpath:
                os.makedirs(self.logpath, exist_ok=True)
                handlers.append(logging.FileHandler(os.path.join(self.logpath, filename),
                                                    encoding="utf-8"))
            if not self.logpath or self.verbose:
                handlers.append(logging.StreamHandler(sys.stderr))
            for h in handlers:
                h.setFormatter(formatter)
                logger.addHandler(h)
                self._handlers.append(h)

    def reopen(self) -> None:
        """USR1: reopen every file (after logrotate moved them)."""
        self.request.reopen()
        for h in self._handlers:
            reopen_handler(h)

    def close(self) -> None:
        self.request.close()
        for h in self._handlers:
            h.flush()
            h.close()
