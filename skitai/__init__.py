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
    enable_forward,
    enable_smtpda,
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
    trackers,
)
from skitai.errors import ConfigError

__version__ = "0.30.0.dev0"

# WebSocket specs and events (README "HTML5 Websocket"); the worker gives them meaning.
WS_SIMPLE = 1
WS_GROUPCHAT = 2
WS_THREADSAFE = 4
WS_MSG_JSON = 8
WS_MSG_XMLRPC = 16
WS_EVT_INIT = "init"
WS_EVT_OPEN = "open"
WS_EVT_CLOSE = "close"
WS_EVT_NONE = None

# alias() types (README "Adding Backend Server Alias").
PROTO_HTTP = "http"
PROTO_HTTPS = "https"
PROTO_WS = "ws"
PROTO_WSS = "wss"
DB_PGSQL = DB_POSTGRESQL = "postgresql"
DB_SQLITE3 = "sqlite3"
DB_REDIS = "redis"
DB_MONGODB = "mongodb"

__all__ = [
    "ConfigError", "abspath", "addlu", "cron", "deflu", "enable_forward", "enable_smtpda",
    "enable_ssl", "getswd", "joinpath",
    "log_off", "lukeys", "mount", "mount_django", "pref", "run", "set_backend_keep_alive",
    "set_graceful_timeout", "set_keep_alive", "set_max_age", "set_max_client_body_size",
    "set_max_requests", "set_max_worker_rss", "set_network_timeout", "set_request_timeout",
    "set_worker_critical_point", "set_worker_timeout", "trackers", "was",
]
