"""Exceptions and exit codes shared by every skitai process.

Layer 0: imports nothing but the standard library.  Exceptions that carry protocol
meaning hold a ``status_hint`` (h11's habit); ``HaltServer`` derives from
``BaseException`` because it means "stop the whole server", not "this went wrong".
"""

from __future__ import annotations

import enum


class SkitaiError(Exception):
    """Base of skitai's own errors."""


class ConfigError(SkitaiError, ValueError):
    """A configuration value is wrong; the message names the key and where it came from."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None) -> None:
        self.key = key
        self.source = source
        where = f" ({source})" if source else ""
        super().__init__(f"{message}{where}")


class ProtocolError(SkitaiError):
    """A protocol violation; ``status_hint`` is the HTTP status to answer with."""

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol (bad framing, oversize headers, ...)."""


class LocalProtocolError(ProtocolError):
    """We tried to send something the protocol does not allow (an app bug)."""


class InvalidTransition(SkitaiError):
    """A table-driven state machine received an input its table does not allow."""


class ExitCode(enum.IntEnum):
    """Child exit codes the master understands (gunicorn's WORKER_BOOT_ERROR idea)."""

    OK = 0
    ERROR = 1
    # The child could not start (bad config, cannot bind, missing dependency).
    BOOT_ERROR = 3
    # The child could not import or mount a user app: restarting will not help.
    APP_LOAD_ERROR = 4
    # The child asks the master to recycle it (max_requests, rss ceiling).
    RECYCLE = 5


class HaltServer(BaseException):  # noqa: N818 - the name says what it does (gunicorn)
    """Raised inside the master to stop everything with a reason and an exit code."""

    def __init__(self, reason: str, exit_status: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exit_status = exit_status
