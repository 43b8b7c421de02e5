"""Skitai App Engine: ``import skitai`` in app.py, mount apps, ``skitai.run()``.

Importing this stays cheap: the web stack, the master and user apps are imported only
by the process that needs them.
"""

from __future__ import annotations

from skitai import was
from skitai.api import (
    abspath,
    addlu,
    alias,
    cron,
    deflu,
    enable_cachefs,
    enable_cluster,
    enable_daemon,
    enable_forward,
    enable_gateway,
    enable_metrics,
    enable_proxy,
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
    set_backend_http2,
    set_backend_keep_alive,
    set_backend_timeout,
    set_graceful_timeout,
    set_keep_alive,
    set_max_age,
    set_max_client_body_size,
    set_max_rcache,
    set_max_requests,
    set_max_worker_rss,
    set_network_timeout,
    set_proxy_keep_alive,
    set_rate_limit,
    set_request_limits,
    set_request_timeout,
    set_trusted_proxies,
    set_worker_critical_point,
    set_worker_timeout,
    task,
    trackers,
    use_django_models,
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
    "ConfigError", "abspath", "addlu", "alias", "cron", "deflu", "enable_cachefs", "enable_forward", "enable_gateway", "enable_proxy", "enable_smtpda",
    "enable_ssl", "getswd", "joinpath",
    "log_off", "lukeys", "mount", "mount_django", "pref", "run", "set_backend_http2", "set_backend_keep_alive",
    "set_backend_timeout",
    "set_graceful_timeout", "set_keep_alive", "set_max_age", "set_max_client_body_size",
    "set_max_rcache", "set_max_requests", "set_max_worker_rss", "set_network_timeout", "set_proxy_keep_alive", "set_rate_limit", "set_request_timeout", "set_trusted_proxies",
    "set_worker_critical_point", "set_worker_timeout", "trackers", "use_django_models", "was",
    "DB_MONGODB", "DB_PGSQL", "DB_POSTGRESQL", "DB_REDIS", "DB_SQLITE3", "PGSQL", "PROTO_HTTP",
    "enable_daemon", "enable_spooler", "enable_cluster", "enable_metrics", "task",
    "set_request_limits",
    "PROTO_HTTPS", "PROTO_WS", "PROTO_WSS", "WS_EVT_CLOSE", "WS_EVT_INIT", "WS_EVT_NONE",
    "WS_EVT_OPEN", "WS_GROUPCHAT", "WS_MSG_JSON", "WS_MSG_XMLRPC", "WS_SIMPLE", "WS_THREADSAFE",
    "MONGODB", "POSTGRESQL", "REDIS", "SQLITE3",
]
