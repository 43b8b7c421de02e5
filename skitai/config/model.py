"""``ServerConfig``: the one frozen, typed, picklable description of a server.

Every field carries its docs and where it may come from (see ``fields.setting``).  Runtime
objects (imported apps, sockets, SSL contexts) are never stored here: each process's
composition root builds them from this.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from skitai.config import parse
from skitai.config.aliases import Alias
from skitai.config.cluster import ClusterConfig
from skitai.config.daemons import CronJob, SmtpdaConfig
from skitai.config.daemonspec import DaemonSpec
from skitai.config.fields import setting
from skitai.config.gateway import CacheConfig, GatewayConfig, ProxyConfig, RateLimit
from skitai.config.pref import Pref

MountKind = Literal["static", "app", "alias"]


@dataclass(frozen=True)
class MountSpec:
    """One ``skitai.mount()`` call, resolved to something a worker can load after fork.

    ``kind == "static"``: ``target`` is an absolute directory.
    ``kind == "app"``: ``target`` is an absolute ``.py`` file imported in the worker (with
    ``path`` prepended to ``sys.path``) and ``app_name`` the variable in it; ``module`` is
    set instead for an importable module name.  ``obj`` keeps the object mounted directly
    as a fallback when it cannot be found again by file (it is dropped when pickled).
    """

    point: str
    kind: MountKind
    target: str
    app_name: str = "app"
    pref: Pref | None = None
    host: str | None = None
    path: str | None = None
    module: str | None = None
    obj: Any = dataclasses.field(default=None, compare=False, repr=False)
    # An alias mount's Host to its members (``mount(..., proxy_host=)``): None as the proxy
    # decides (see gateway/proxy.py), "$host" the client's, "$proxy_host" the member's own,
    # anything else that value.
    proxy_host: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        state["obj"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class CriticalPoint:
    cpu_percent: float = 90.0
    continuous: int = 3
    interval: float = 20.0


@dataclass(frozen=True)
class ServerConfig:
    # --- identity and paths ---------------------------------------------------------
    name: str = setting("skitai", doc="Display name: process titles read skitai(<name>): master "
                        "(default: app.py's folder/stem).", conf="process-display-name")
    instance: str | None = setting(None, doc="An explicit instance name (--name): keys the state "
                                   "folder instead of app file + listen address, and names the "
                                   "processes.", env="SKITAI_NAME", cli="--name")
    script: str | None = setting(None, doc="Absolute path of the app.py that built this config.")
    swd: str = setting(".", doc="Skitai working directory (the directory of app.py).")
    logpath: str | None = setting(
        None, doc="Directory for server.log, app.log, request.log; console when unset.",
        env="SKITAI_LOGPATH", cli="--logpath", conf="log-path",
    )
    varpath: str | None = setting(
        None, doc="Directory for the pid file, control socket and mail spool.",
        env="SKITAI_VARPATH", cli="--varpath", conf="var-path",
    )
    verbose: bool = setting(False, doc="Also log to the console when logpath is set (-v).",
                            parse=parse.boolean, env="SKITAI_VERBOSE", conf="verbose")
    # --- listeners ------------------------------------------------------------------
    address: str = setting("127.0.0.1", doc="Bind address (IPv4 or IPv6).",
                           env="SKITAI_ADDRESS", cli="--address", conf="address")
    port: int = setting(5000, doc="Bind port; 0 picks a free one.", parse=parse.port,
                        env="SKITAI_PORT", cli="--port", conf="port")
    unix_socket: str | None = setting(None, doc="Also listen on this unix socket path.",
                                      conf="unix-socket")
    backlog: int = setting(2048, doc="listen() backlog.", parse=parse.positive_int)
    reuse_port: bool = setting(False, doc="Set SO_REUSEPORT on the listener.",
                               parse=parse.boolean)
    # --- processes ------------------------------------------------------------------
    workers: int = setting(1, doc="Number of web worker processes.", parse=parse.positive_int,
                           env="SKITAI_WORKERS", cli="-w/--workers", conf="workers")
    threads: int = setting(4, doc="WSGI threads per worker; 0 runs apps inline on the loop.",
                           parse=parse.non_negative_int, env="SKITAI_THREADS",
                           cli="--threads", conf="threads")
    # A thread waiting on a was call lends its place (worker/pool.py): threads bounds the
    # app code running at once, max_threads the threads in all.
    max_threads: int = setting(0, doc="Most WSGI threads per worker, counting those waiting "
                               "on was calls (0: 4 x threads; = threads: no lending).",
                               parse=parse.non_negative_int, env="SKITAI_MAX_THREADS",
                               cli="--max-threads", conf="max-threads")
    graceful_timeout: float = setting(30.0, doc="Seconds in-flight work may take at stop.",
                                      parse=parse.seconds, conf="graceful-timeout")
    worker_timeout: float = setting(30.0, doc="Seconds without a heartbeat before a worker is aborted.",
                                    parse=parse.seconds, conf="worker-timeout")
    max_requests: int = setting(0, doc="Recycle a worker after this many requests (0: never).",
                                parse=parse.non_negative_int, conf="max-requests")
    max_requests_jitter: int = setting(0, doc="Random extra requests added to max_requests.",
                                       parse=parse.non_negative_int, conf="max-requests-jitter")
    max_worker_rss: int = setting(0, doc="Recycle a worker whose RSS exceeds this (bytes, 0: never).",
                                  parse=parse.size, conf="max-worker-rss")
    critical_point: CriticalPoint | None = setting(None, doc="set_worker_critical_point().")
    # --- HTTP limits and timeouts ----------------------------------------------------
    keep_alive: float = setting(30.0, doc="Idle seconds allowed between requests on a connection.",
                                parse=parse.seconds, conf="keep-alive")
    request_timeout: float = setting(30.0, doc="Seconds allowed between packets of one request.",
                                     parse=parse.seconds, conf="request-timeout")
    backend_keep_alive: float = setting(10.0, doc="Idle seconds before backend connections are renewed.",
                                        parse=parse.seconds)
    # set_backend_http2(): on, an https:// member is offered h2 by ALPN (one multiplexed
    # connection); off, HTTP/1.1 keep-alive only, as nginx speaks to its upstreams.
    backend_http2: bool = setting(True, doc="Offer h2 to https:// backend members (ALPN); "
                                  "an alias's own http2= wins.", parse=parse.boolean,
                                  conf="backend-http2")
    # set_request_limits(); gunicorn's defaults (limit_request_line, _fields, _field_size).
    max_request_line: int = setting(4094, doc="Longest request line in bytes (414 beyond).",
                                    parse=parse.positive_int, conf="max-request-line")
    max_header_fields: int = setting(100, doc="Most header fields in a request head, and in "
                                     "its trailers (431 beyond).", parse=parse.positive_int,
                                     conf="max-header-fields")
    max_header_field_size: int = setting(8190, doc="Largest header field, name and value "
                                         "bytes (431 beyond).", parse=parse.positive_int,
                                         conf="max-header-field-size")
    max_header_bytes: int = setting(65536, doc="Largest request head in bytes (431 beyond).",
                                    parse=parse.positive_int, conf="max-header-bytes")
    max_client_body_size: int = setting(64 << 20, doc="Default request body limit (413 beyond).",
                                        parse=parse.size, conf="max-client-body-size")
    client_body_buffer_size: int = setting(
        64 * 1024, doc="Request body bytes kept in memory before the rest waits in a "
        "temporary file (the body arrives whole before the app runs, unless its mount sets "
        "pref.stream_request_body).", parse=parse.size, conf="client-body-buffer-size")
    max_connections: int = setting(10000, doc="Open connections per worker.",
                                   parse=parse.positive_int)
    # --- mounts and static files ----------------------------------------------------
    mounts: tuple[MountSpec, ...] = setting((), doc="What skitai.mount() mounted, in call order.")
    max_ages: tuple[tuple[str, int], ...] = setting((), doc="set_max_age(path, seconds) rules.")
    log_off: tuple[str, ...] = setting((), doc="log_off() prefixes and *.ext globs.")
    debug: bool = setting(False, doc="Show tracebacks in 500 bodies.", parse=parse.boolean)
    # --- shared memory and daemons --------------------------------------------------
    lu_keys: tuple[str, ...] = setting((), doc="Keys declared with skitai.addlu().")
    smtpda: SmtpdaConfig | None = setting(None, doc="enable_smtpda() / [smtpda].")
    crons: tuple[CronJob, ...] = setting((), doc="skitai.cron() and [:crontab] entries.")
    daemons: tuple[DaemonSpec, ...] = setting((), doc="Service daemons in start order: "
                                               "enable_daemon(), [daemon:NAME], enable_smtpda(), cron.")
    conf_file: str | None = setting(None, doc="The config file that was read, if any.")
    cluster: ClusterConfig | None = setting(None, doc="enable_cluster() / [cluster]: many hosts, "
                                            "one app, over Redis.")
    # --- TLS and HTTP/2 (enable_ssl, enable_forward) ---------------------------------
    ssl_cert: str | None = setting(None, doc="enable_ssl(): certificate chain file (PEM); "
                                   "the main listener speaks TLS (ALPN h2, http/1.1).",
                                   conf="ssl-cert")
    ssl_key: str | None = setting(None, doc="enable_ssl(): private key file (PEM).",
                                  conf="ssl-key")
    ssl_passphrase: str | None = setting(None, doc="enable_ssl(): pass phrase of the key.")
    forward_port: int | None = setting(None, doc="enable_forward(): a clear-text port that "
                                       "redirects every request to HTTPS.", parse=parse.port)
    forward_to: int = setting(443, doc="enable_forward(): the HTTPS port redirected to.",
                              parse=parse.port)
    forward_hosts: tuple[str, ...] = setting((), doc="enable_forward(hosts=): names a "
                                             "redirect may go to (default: the mounts' hosts).")
    h2_max_concurrent_streams: int = setting(100, doc="HTTP/2 streams a client may open at once.",
                                             parse=parse.positive_int)
    h2_push: bool = setting(True, doc="Server push for hint_promise() on HTTP/2 "
                            "(when the client allows it).", parse=parse.boolean)

    # --- was (skitai.was) -------------------------------------------------------------
    max_rcache: int = setting(300, doc="set_max_rcache(): cached was results per worker (LRU).",
                              parse=parse.non_negative_int, conf="max-rcache")

    # --- backends, reverse proxy, gateway (skitai.alias, mount("/x", "@alias")) --------
    aliases: tuple[Alias, ...] = setting((), doc="skitai.alias() and [@name] sections.")
    gateway: GatewayConfig | None = setting(None, doc="enable_gateway(): authentication of "
                                            "the alias mounts.")
    rate_limit: RateLimit | None = setting(None, doc="set_rate_limit(): per user or address, "
                                           "on the alias mounts.")
    forward_proxy: ProxyConfig | None = setting(None, doc="enable_proxy(): a forward HTTP "
                                                "proxy (absolute-form and CONNECT).")
    cachefs: CacheConfig | None = setting(None, doc="enable_cachefs(): the HTTP cache of "
                                          "proxied responses.")
    proxy_keep_alive: float = setting(60.0, doc="set_proxy_keep_alive(channel): idle seconds "
                                      "of the forward proxy's connections to destinations.",
                                      parse=parse.seconds)
    proxy_tunnel_timeout: float = setting(600.0, doc="set_proxy_keep_alive(tunnel): idle "
                                          "seconds of a CONNECT (or WebSocket) tunnel.",
                                          parse=parse.seconds)
    trusted_proxies: tuple[str, ...] = setting((), doc="set_trusted_proxies(): networks whose "
                                               "X-Forwarded-* headers are believed.")
    backend_timeout: float = setting(30.0, doc="Seconds a member may take to answer (head, "
                                     "then between body bytes) before a 504.",
                                     parse=parse.seconds, conf="backend-timeout")

    def replace(self, **changes: Any) -> ServerConfig:
        return dataclasses.replace(self, **changes)

    @property
    def wsgi_threads(self) -> int:
        return self.threads


def settings() -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(ServerConfig)
