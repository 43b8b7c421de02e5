"""Skitai App Engine: ``import skitai`` in app.py, mount apps, ``skitai.run()``.

Importing this stays cheap: the web stack, the master and user apps are imported only
by the process that needs them.
"""

from __future__ import annotations

from skitai import was
from skitai.api import (
    abspath,
    addlu,
    cron,
    deflu,
    enable_daemon,
    enable_forward,
    enable_metrics,
    enable_smtpda,
    enable_spooler,
    enable_ssl,
    getswd,
    joinpath,
    log_off,
    lukeys,
    mount,
    mount_django,
    pref,
    run,
    set_backend_keep_alive,
    set_graceful_timeout,
    set_keep_alive,
    set_max_age,
    set_max_client_body_size,
    set_max_requests,
    set_max_worker_rss,
    set_network_timeout,
    set_request_timeout,
    set_worker_critical_point,
    set_worker_timeout,
    task,
    trackers,
)
from skitai.errors import ConfigError

__version__ = "0.30.0.dev0"

from skitai.constants import (  # noqa: E402 - after __version__, as they always were
    DB_MONGODB,
    DB_PGSQL,
    DB_POSTGRESQL,
    DB_REDIS,
    DB_SQLITE3,
    MONGODB,
    PGSQL,
    POSTGRESQL,
    PROTO_HTTP,
    PROTO_HTTPS,
    PROTO_WS,
    PROTO_WSS,
    REDIS,
    SQLITE3,
    WS_EVT_CLOSE,
    WS_EVT_INIT,
    WS_EVT_NONE,
    WS_EVT_OPEN,
    WS_GROUPCHAT,
    WS_MSG_JSON,
    WS_MSG_XMLRPC,
    WS_SIMPLE,
    WS_THREADSAFE,
)

__all__ = [
    "ConfigError", "abspath", "addlu", "cron", "deflu", "enable_forward", "enable_smtpda",
    "enable_ssl", "getswd", "joinpath",
    "log_off", "lukeys", "mount", "mount_django", "pref", "run", "set_backend_keep_alive",
    "set_graceful_timeout", "set_keep_alive", "set_max_age", "set_max_client_body_size",
    "set_max_requests", "set_max_worker_rss", "set_network_timeout", "set_request_timeout",
    "set_worker_critical_point", "set_worker_timeout", "trackers", "was",
    "enable_daemon", "enable_spooler", "enable_metrics", "task",
    "DB_MONGODB", "DB_PGSQL", "DB_POSTGRESQL", "DB_REDIS", "DB_SQLITE3", "PROTO_HTTP",
    "PROTO_HTTPS", "PROTO_WS", "PROTO_WSS", "WS_EVT_CLOSE", "WS_EVT_INIT", "WS_EVT_NONE",
    "WS_EVT_OPEN", "WS_GROUPCHAT", "WS_MSG_JSON", "WS_MSG_XMLRPC", "WS_SIMPLE", "WS_THREADSAFE",
    "MONGODB", "PGSQL", "POSTGRESQL", "REDIS", "SQLITE3",
]
