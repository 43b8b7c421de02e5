"""Config of the peer daemons (smtpda, cron), embedded in ``ServerConfig`` and also used
on their own by the standalone ``skitai smtpda`` / ``skitai cron`` commands."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from skitai.config import conffile, parse
from skitai.errors import ConfigError


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
    # "once": one host of the cluster runs each fire (skitai.cluster.lock); None: every host.
    cluster: str | None = None


# --- the [smtpda] section ----------------------------------------------------------------

SMTPDA_KEYS = frozenset({"log-path", "var-path", "verbose", "max-retry", "keep-days",
                         "smtp-server", "user", "password", "ssl", "starttls", "spool",
                         "process-display-name"})


def spool_dir(cfg: SmtpdaConfig, varpath: str | None = None) -> str:
    """The one spool the apps write and the daemon reads."""
    if cfg.spool:
        return os.path.expanduser(cfg.spool)
    return os.path.join(os.path.expanduser(varpath or "~/.skitai"), "smtpda")


_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "smtp-server": ("server", str), "user": ("user", str), "password": ("password", str),
    "ssl": ("ssl", parse.boolean), "starttls": ("starttls", parse.boolean),
    "max-retry": ("max_retry", parse.positive_int), "keep-days": ("keep_days", parse.positive_int),
    "spool": ("spool", os.path.expanduser), "log-path": ("log_path", os.path.expanduser),
    "verbose": ("verbose", parse.boolean), "process-display-name": ("process_display_name", str),
}


def config_from_conf(conf: conffile.ConfFile, base: SmtpdaConfig | None = None) -> SmtpdaConfig:
    """``[common]`` < ``[smtpda]`` over ``base``; a bad key or value names file:line.
    ``var-path`` (either section) sets the spool to ``<var-path>/smtpda`` unless ``spool`` is set."""
    conffile.check_keys(conf, "smtpda", set(SMTPDA_KEYS))
    values = dataclasses.asdict(base or SmtpdaConfig())
    for section in ("common", "smtpda"):
        for entry in conf.section(section).values():
            key = entry.key
            if key == "var-path":
                if not conf.get("smtpda", "spool"):
                    values["spool"] = os.path.join(os.path.expanduser(entry.value), "smtpda")
                continue
            if key not in _FIELDS or (section == "common" and key not in ("log-path", "verbose")):
                continue
            if key == "password":
                check_mode(conf.path)
            name, fn = _FIELDS[key]
            try:
                values[name] = fn(entry.value)
            except (ValueError, ConfigError) as exc:
                raise ConfigError(f"{conf.where(entry)}: bad value for {key!r}: {exc}") from None
    return SmtpdaConfig(**values)


def check_mode(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: holds an SMTP password but is readable by group/others "
                          f"(mode {stat.S_IMODE(mode):o}); chmod 600 it")
