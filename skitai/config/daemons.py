"""Config of the peer daemons (smtpda, cron), embedded in ``ServerConfig`` and also used
on their own by the standalone ``skitai smtpda`` / ``skitai cron`` commands."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SmtpdaConfig:
    server: str = "127.0.0.1:25"
    user: str | None = None
    # Kept out of argv and out of the spool; read from the config file or the environment.
    password: str | None = None
    ssl: bool = False
    starttls: bool | None = None
    max_retry: int = 10
    keep_days: int = 3
    spool: str | None = None
    log_path: str | None = None
    verbose: bool = False
    process_display_name: str | None = None

    def __repr__(self) -> str:  # never print the password
        return (f"SmtpdaConfig(server={self.server!r}, user={self.user!r}, ssl={self.ssl!r}, "
                f"max_retry={self.max_retry}, keep_days={self.keep_days}, spool={self.spool!r})")


@dataclass(frozen=True)
class CronJob:
    spec: str
    command: str
    name: str | None = None
    timeout: float | None = None
    cwd: str | None = None
    source: str | None = None  # "app.py" or "file:line", for error messages
    # Extra environment for the job (over the cron daemon's own), as (name, value) pairs.
    env: tuple[tuple[str, str], ...] = ()
    # IANA zone the spec is read in; None: the [cron] timezone, else the local zone.
    timezone: str | None = None
