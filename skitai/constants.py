"""The README's constants (``skitai.WS_*``, ``skitai.PROTO_*``, ``skitai.DB_*``), in one
place for ``import skitai`` and the worker modules that give them meaning."""

from typing import Final

# WebSocket specs and events (README "HTML5 Websocket").
WS_SIMPLE: Final = 1
WS_GROUPCHAT: Final = 2
WS_THREADSAFE: Final = 4
WS_MSG_JSON: Final = 8
WS_MSG_XMLRPC: Final = 16
WS_EVT_INIT: Final = "init"
WS_EVT_OPEN: Final = "open"
WS_EVT_CLOSE: Final = "close"
WS_EVT_NONE: Final = None

# alias() backend types (README "Adding Backend Server Alias").
PROTO_HTTP: Final = "http"
PROTO_HTTPS: Final = "https"
PROTO_WS: Final = "ws"
PROTO_WSS: Final = "wss"
DB_PGSQL: Final = "postgresql"
DB_POSTGRESQL: Final = "postgresql"
PGSQL: Final = "postgresql"
DB_SQLITE3: Final = "sqlite3"
DB_REDIS: Final = "redis"
DB_MONGODB: Final = "mongodb"
# The seed's short spellings (``skitai.PGSQL`` in its load-balancing example).
POSTGRESQL: Final = DB_POSTGRESQL
SQLITE3: Final = DB_SQLITE3
REDIS: Final = DB_REDIS
MONGODB: Final = DB_MONGODB
