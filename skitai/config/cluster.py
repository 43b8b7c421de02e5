"""``ClusterConfig``: ``skitai.enable_cluster(redis_url, name=None)`` and ``[cluster]``.

Many hosts run the same app.py against one Redis; ``name`` keys everything they share
(``skitai:<name>:...``), so two apps on one Redis never mix.  Credentials never come
through argv: the URL may carry none, and the password comes from the environment
(``SKITAI_CLUSTER_PASSWORD``, ``SKITAI_CLUSTER_USERNAME``) or ``password =`` in the
``[cluster]`` section of a config file that only its owner may read (0600).  ``rediss://``
is TLS (``ca-file``, ``cert-file``, ``key-file`` for a private CA or client certs).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from skitai.config import conffile, parse
from skitai.errors import ConfigError

PASSWORD_ENV: Final = "SKITAI_CLUSTER_PASSWORD"
USERNAME_ENV: Final = "SKITAI_CLUSTER_USERNAME"
SCHEMES: Final = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class ClusterConfig:
    url: str = "redis://127.0.0.1:6379/0"
    name: str = "skitai"
    username: str | None = None
    password: str | None = None
    host: str | None = None  # this host's id in the cluster; default hostname-masterpid
    heartbeat: float = 2.0  # seconds between host heartbeats (the TTL is 3 of them)
    max_message: int = 64 << 10  # a broadcast bigger than this stays on its own host
    # Broadcasts waiting for Redis (slow, or away: replayed in order on reconnect); past
    # this many the oldest are dropped, counted in the log.
    max_queue: int = 10000
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @property
    def prefix(self) -> str:
        return f"skitai:{self.name}"

    @property
    def safe_url(self) -> str:
        """The URL without a password, for logs and status."""
        return redact(self.url)

    def __repr__(self) -> str:  # never print the password
        return f"ClusterConfig(url={self.safe_url!r}, name={self.name!r}, host={self.host!r})"


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def check_url(url: Any, source: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{source}: a Redis URL is 'redis://host:port/db' or 'rediss://...'",
                          key="url")
    scheme = urlsplit(url.strip()).scheme
    if scheme not in SCHEMES:
        raise ConfigError(f"{source}: the cluster URL scheme is one of {', '.join(SCHEMES)}, "
                          f"got {url!r}", key="url")
    return url.strip()


def check_name(name: Any, source: str) -> str:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(f"{source}: a cluster name is letters, digits, '-', '_' or '.', "
                          f"got {name!r}", key="name")
    return name


def _path(value: str) -> str:
    return os.path.abspath(os.path.expanduser(value))


KEYS: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "url": ("url", str), "name": ("name", str), "username": ("username", str),
    "password": ("password", str), "host": ("host", str),
    "heartbeat": ("heartbeat", parse.seconds), "max-message": ("max_message", parse.size),
    "max-queue": ("max_queue", parse.positive_int),
    "ca-file": ("ca_file", _path), "cert-file": ("cert_file", _path), "key-file": ("key_file", _path),
}


def from_conf(conf: conffile.ConfFile, base: ClusterConfig,
              given: tuple[str, ...] = ()) -> ClusterConfig:
    """``[cluster]`` over ``base``: the fields app.py set (``given``, and any that differs
    from the default) win."""
    conffile.check_keys(conf, "cluster", set(KEYS))
    values: dict[str, Any] = {}
    for entry in conf.section("cluster").values():
        field, parser = KEYS[entry.key]
        if entry.key == "password":
            from skitai.config.daemons import check_mode

            check_mode(conf.path)
        try:
            values[field] = parser(entry.value)
        except (ValueError, ConfigError) as exc:
            raise ConfigError(f"{conf.where(entry)}: [cluster] bad value for {entry.key!r}: "
                              f"{exc}", key=entry.key) from None
    default = ClusterConfig()
    app = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)
           if f.name in given or getattr(base, f.name) != getattr(default, f.name)}
    merged = dataclasses.replace(default, **{**values, **app})
    where = f"{conf.path} [cluster]"
    check_url(merged.url, where)
    check_name(merged.name, where)
    return merged


def with_env(cfg: ClusterConfig, env: Mapping[str, str]) -> ClusterConfig:
    """Credentials from the environment (they win over the file: a secret store's)."""
    changes: dict[str, Any] = {}
    if env.get(PASSWORD_ENV):
        changes["password"] = env[PASSWORD_ENV]
    if env.get(USERNAME_ENV):
        changes["username"] = env[USERNAME_ENV]
    return dataclasses.replace(cfg, **changes) if changes else cfg
