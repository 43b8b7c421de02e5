"""The functions ``app.py`` calls (``skitai.mount``, ``skitai.run``, ...), names and
arguments as in the Skitai 0.26 README.  Each writes into one module-level draft
(``config.builder.Builder``); ``run()`` freezes it.  Values are checked at the call, so a
mistake is reported as ``app.py:12: skitai.run(port='x'): expected an integer``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from typing import Any, NoReturn

from skitai.config import bootstrap as bootstrap_mod
from skitai.config import builder as builder_mod
from skitai.config.daemons import SmtpdaConfig
from skitai.config.model import CriticalPoint, MountSpec
from skitai.config.pref import Pref
from skitai.errors import ConfigError
from skitai.was import runtime as was_runtime

DJANGO_SETUP_ENV = "SKITAI_DJANGO_SETUP"  # read by skitai.worker.apps

_draft = builder_mod.Builder()


def draft() -> builder_mod.Builder:
    return _draft


def _open(where: str) -> builder_mod.Builder:
    """The draft, while a call can still change it.  After ``skitai.run()`` (in a worker,
    or in code that runs later) a call would silently change nothing: say so instead."""
    if _draft.closed:
        raise ConfigError(
            f"{where}: too late: skitai.run() has already frozen the configuration (this "
            "call ran in a worker or after run()) and it would change nothing; call it in "
            "app.py before skitai.run(), or in bootstrap(pref) in the __init__.py beside a "
            "mounted app file")
    return _draft


def reset() -> None:
    """Forget everything app.py declared (tests, and re-running an app in one process)."""
    global _draft
    _draft = builder_mod.Builder()


# --- where the app lives ------------------------------------------------------------


def _script() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.abspath(path) if path else None


def getswd() -> str:
    """Skitai working directory: the directory of the script that calls ``skitai.run()``."""
    script = _script()
    return os.path.dirname(script) if script else os.getcwd()


def abspath(*parts: str) -> str:
    return os.path.normpath(os.path.join(getswd(), *parts))


joinpath = abspath

# was, used before skitai.run() or without it, reads this draft (was never imports api).
was_runtime.declare(aliases=lambda: tuple(_draft.aliases), swd=getswd,
                    backend_http2=lambda: bool(_draft.get("backend_http2")))


def _caller(depth: int) -> str:
    frame = sys._getframe(depth + 1)
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def _call(call: str, depth: int, **args: Any) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"{_caller(depth + 1)}: skitai.{call}({shown})"


# --- mounting ---------------------------------------------------------------------------


def pref(**attrs: Any) -> Pref:
    """A fresh runtime preference; its attributes and ``config`` are applied to the app."""
    return Pref(**attrs)


def mount(
    point: str,
    obj: Any,
    app_name: str = "app",
    pref: Pref | None = None,
    host: str | None = None,
    path: str | None = None,
    *,
    proxy_host: str | None = None,
    _depth: int = 1,
) -> None:
    """``proxy_host`` (alias mounts only): the ``Host`` members get, as nginx's
    ``proxy_set_header Host``: ``"$host"`` the client's, ``"$proxy_host"`` the member's
    own ``host:port``, any other string that fixed value; None (the default) the client's
    for members written as addresses and the member's own for members written as names."""
    where = _call("mount", _depth, point=point, obj=obj)
    if not isinstance(point, str) or not point.startswith("/"):
        raise ConfigError(f"{where}: the mount point must be a path starting with '/'")
    point = point.rstrip("/") or "/"
    if pref is not None and not isinstance(pref, Pref):
        raise ConfigError(f"{where}: pref must come from skitai.pref()")
    if host is not None and (not isinstance(host, str) or not host or "/" in host):
        raise ConfigError(f"{where}: host must be a host name like 'www.example.com' or '.example.com'")
    if host in ("default", ""):
        host = None
    syspath = abspath(path) if path else None
    draft = _open(where)
    spec = _resolve(point, obj, app_name, None, host.lower() if host else None, syspath, where)
    if spec.kind == "app" and spec.obj is None and spec.module is None and spec.target:
        pref = _bootstrap(spec.target, pref, syspath)
    snapshot = pref.snapshot() if pref is not None else None
    if proxy_host is not None:
        if spec.kind != "alias":
            raise ConfigError(f"{where}: proxy_host is for an alias mount (\"@name\")")
        if not isinstance(proxy_host, str) or not proxy_host or any(
                c in proxy_host for c in " \t\r\n/,") or not proxy_host.isprintable():
            raise ConfigError(f"{where}: proxy_host must be \"$host\", \"$proxy_host\" or a "
                              f"host[:port] like 'api.example.com', got {proxy_host!r}")
        if proxy_host.startswith("$") and proxy_host not in ("$host", "$proxy_host"):
            raise ConfigError(f"{where}: proxy_host {proxy_host!r}: only $host and $proxy_host")
    draft.mounts.append(dataclasses.replace(spec, pref=snapshot, proxy_host=proxy_host))


def _bootstrap(target: str, pref: Pref | None, syspath: str | None) -> Pref | None:
    """Run the seed's ``bootstrap(pref)`` beside a mounted file, here in app.py: its
    ``skitai.mount()``/``skitai.cron()`` calls and its edits of ``pref`` still count."""
    if syspath and syspath not in sys.path:
        sys.path.insert(0, syspath)
    hook = bootstrap_mod.hook_for(target)
    if hook is None:
        return pref
    pref = pref if pref is not None else Pref()
    bootstrap_mod.run(hook, pref)
    return pref


def _resolve(point: str, obj: Any, app_name: str, pref: Pref | None, host: str | None,
             syspath: str | None, where: str) -> MountSpec:
    common: dict[str, Any] = {"point": point, "app_name": app_name, "pref": pref, "host": host, "path": syspath}
    if isinstance(obj, str):
        if obj.startswith("@"):
            # A load-balanced reverse proxy to the alias's members (checked at freeze,
            # since a [@name] section of the config file may declare it).
            return MountSpec(kind="alias", target=obj, **common)
        target = abspath(obj)
        if os.path.isdir(target) and not os.path.isfile(target + ".py"):
            return MountSpec(kind="static", target=target, **common)
        for candidate in (target, target + ".py"):
            if candidate.endswith(".py") and os.path.isfile(candidate):
                return MountSpec(kind="app", target=candidate, **common)
        raise ConfigError(f"{where}: no directory or .py file at {target}")
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], types.ModuleType):
        return MountSpec(kind="app", target=_export_file(obj[0], obj[1], where), **common)
    if isinstance(obj, types.ModuleType):
        return MountSpec(kind="app", target=_export_file(obj, None, where), **common)
    if callable(obj):
        return _resolve_object(obj, common, where)
    raise ConfigError(f"{where}: cannot mount {type(obj).__name__}: give a directory, "
                      "a .py file, a module or a WSGI callable")


def _export_file(module: types.ModuleType, filename: str | None, where: str) -> str:
    """A module exports its app as ``<package dir>/export/skitai/app.py`` (or the named file)."""
    base = os.path.dirname(os.path.abspath(getattr(module, "__file__", "") or ""))
    names = [filename] if filename else ["app.py", "__export__.py"]
    for name in names:
        candidate = os.path.join(base, "export", "skitai", name)
        if os.path.isfile(candidate):
            return candidate
    raise ConfigError(f"{where}: module {module.__name__} exports no "
                      f"export/skitai/{names[0]} (looked in {base})")


def _resolve_object(obj: Any, common: dict[str, Any], where: str) -> MountSpec:
    """A WSGI callable: remember where it can be imported again after fork (so a reload
    picks up new code), and keep the object itself as a fallback."""
    module_name = getattr(obj, "__module__", None) or "__main__"
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None)
    name = common["app_name"]
    if module is not None and getattr(module, name, None) is not obj:
        found = [k for k, v in vars(module).items() if v is obj and not k.startswith("_")]
        name = found[0] if found else name
    spec_args = dict(common, app_name=name)
    if module is not None and getattr(module, name, None) is obj and filename:
        importable = None if module_name == "__main__" else module_name
        return MountSpec(kind="app", target=os.path.abspath(filename), module=importable,
                         obj=obj, **{k: v for k, v in spec_args.items()})
    return MountSpec(kind="app", target="", obj=obj, **spec_args)


def mount_django(point: str, wsgi_path: str, pref: Pref | None = None, host: str | None = None,
                 path: str | None = None) -> None:
    """Mount a Django project's ``wsgi.py`` (its ``application``), with the project root
    (the directory holding ``manage.py``) on ``sys.path`` unless ``path`` says otherwise."""
    if path is None:
        project = os.path.dirname(os.path.dirname(abspath(wsgi_path)))
        path = os.path.relpath(project, getswd())
    mount(point, wsgi_path, "application", pref, host=host, path=path, _depth=2)


def use_django_models(settings_path: str) -> None:
    """Use a Django project's models in apps (the seed's ``use_django_models``): the
    project root goes on ``sys.path``, ``DJANGO_SETTINGS_MODULE`` names the settings, and
    each worker calls ``django.setup()`` before it imports the mounted apps (so an app may
    import its models at the top).  The master itself never imports Django."""
    settings = abspath(settings_path)
    if not os.path.isfile(settings):
        raise ConfigError(f"use_django_models: no settings file {settings}",
                          source=_caller(1))
    package_dir = os.path.dirname(settings)
    root = os.path.dirname(package_dir)
    module = f"{os.path.basename(package_dir)}.{os.path.splitext(os.path.basename(settings))[0]}"
    if root not in sys.path:
        sys.path.insert(0, root)
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    os.environ[DJANGO_SETUP_ENV] = "1"


# --- server settings -------------------------------------------------------------------


def _set(call: str, depth: int, **values: Any) -> None:
    for name, value in values.items():
        where = _call(call, depth + 1, **{name: value})
        _open(where).set(name, value, where)


def set_keep_alive(timeout: float = 30) -> None:
    _set("set_keep_alive", 1, keep_alive=timeout)


def set_request_timeout(timeout: float = 30) -> None:
    _set("set_request_timeout", 1, request_timeout=timeout)


set_network_timeout = set_request_timeout


def set_backend_keep_alive(timeout: float = 10) -> None:
    _set("set_backend_keep_alive", 1, backend_keep_alive=timeout)


def set_backend_http2(enabled: bool = True) -> None:
    """Offer ``h2`` to ``https://`` members by ALPN (the default: one multiplexed
    connection per member), or keep them on HTTP/1.1 keep-alive (``False``: about a
    quarter of the client CPU per request, what nginx does).  For ``was`` and the
    reverse proxy alike; ``skitai.alias(..., http2=...)`` decides for one alias."""
    _set("set_backend_http2", 1, backend_http2=enabled)


def set_max_rcache(objmax: int = 300) -> None:
    """How many ``was`` results each worker keeps cached (``result.cache(ttl)``; LRU)."""
    _set("set_max_rcache", 1, max_rcache=objmax)


def set_backend_timeout(timeout: float = 30) -> None:
    """Seconds a backend member may take to answer a proxied or ``was`` call (504 after)."""
    _set("set_backend_timeout", 1, backend_timeout=timeout)


def set_graceful_timeout(timeout: float = 30) -> None:
    _set("set_graceful_timeout", 1, graceful_timeout=timeout)


def set_worker_timeout(timeout: float = 30) -> None:
    _set("set_worker_timeout", 1, worker_timeout=timeout)


def set_max_requests(count: int, jitter: int = 0) -> None:
    _set("set_max_requests", 1, max_requests=count, max_requests_jitter=jitter)


def set_max_worker_rss(size: int | str) -> None:
    _set("set_max_worker_rss", 1, max_worker_rss=size)


def set_max_client_body_size(size: int | str) -> None:
    _set("set_max_client_body_size", 1, max_client_body_size=size)


def set_request_limits(request_line: int | None = None, header_fields: int | None = None,
                       header_field_size: int | None = None,
                       header_bytes: int | None = None) -> None:
    """Request head limits (None keeps the default): the request line (414), the number
    of header fields and the bytes of one field (431), the whole head (431).  HTTP/2: the
    field count and size answer 431 on the stream, a ``:path`` that would make the HTTP/1.1
    request line too long 414; the whole head is the advertised
    SETTINGS_MAX_HEADER_LIST_SIZE (a connection error beyond it)."""
    given = {"request_line": request_line, "header_fields": header_fields,
             "header_field_size": header_field_size, "header_bytes": header_bytes}
    for arg, value in given.items():
        if value is not None:
            _draft.set("max_" + arg, value, _call("set_request_limits", 1, **{arg: value}))


def set_max_age(path: str, max_age: int) -> None:
    where = _call("set_max_age", 1, path=path, max_age=max_age)
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"{where}: path must start with '/'")
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ConfigError(f"{where}: max_age must be a whole number of seconds >= 0")
    _open(where).max_ages.append((path, max_age))


def log_off(*paths: str) -> None:
    for p in paths:
        if not isinstance(p, str) or not (p.startswith("/") or p.startswith("*")):
            raise ConfigError(f"{_call('log_off', 1, path=p)}: use a '/prefix' or a '*.ext' glob")
        _open(_call("log_off", 1, path=p)).log_off.append(p)


def set_worker_critical_point(cpu_percent: float = 90.0, continuous: int = 3,
                              interval: float = 20) -> None:
    where = _call("set_worker_critical_point", 1, cpu_percent=cpu_percent,
                  continuous=continuous, interval=interval)
    try:
        point = CriticalPoint(float(cpu_percent), int(continuous), float(interval))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected numbers") from None
    if point.cpu_percent <= 0 or point.continuous < 1 or point.interval < 0:
        raise ConfigError(f"{where}: cpu_percent > 0, continuous >= 1, interval >= 0")
    _open(where).set("critical_point", point if point.interval > 0 else None, where)


def addlu(*keys: str | list[str] | tuple[str, ...]) -> None:
    """``addlu("a", "b")``; the seed's ``lukeys(["a", "b"])`` list form is the same call."""
    for given in keys:
        for key in given if isinstance(given, (list, tuple)) else (given,):
            if not isinstance(key, str) or not key:
                raise ConfigError(f"{_call('addlu', 1, key=key)}: keys are non-empty strings")
            _open(_call("addlu", 1, key=key)).lu_keys.append(key)


deflu = trackers = lukeys = addlu


# --- backends (README "Adding Backend Server Alias") ----------------------------------------


def alias(name: str, type: str, servers: str | list[str] | tuple[str, ...], role: str = "",
          source: str = "", ssl: bool = False, *, http2: bool | None = None) -> None:
    """Name a group of backend members: ``skitai.alias("@members", skitai.PROTO_HTTP,
    ["10.0.0.2:5001 1", "10.0.0.3:5001 3"])``; mount it (``skitai.mount("/m", "@members")``)
    or call it from ``was``.  ``http2``: offer ``h2`` to its ``https://`` members (None:
    ``set_backend_http2``'s choice).  Bad member strings fail here, naming the call and
    member."""
    from skitai.config import aliases

    where = _call("alias", 1, name=name, type=type)
    _draft.aliases.append(aliases.make(name, type, servers, role, source, ssl, where=where,
                                       http2=http2))


def set_trusted_proxies(*networks: str) -> None:
    """Clients (load balancers in front of skitai) whose ``X-Forwarded-For/-Proto/-Host``
    the reverse proxy keeps and extends; everyone else's are replaced."""
    import ipaddress

    where = _call("set_trusted_proxies", 1, networks=networks)
    out = []
    for net in networks:
        try:
            out.append(str(ipaddress.ip_network(str(net).strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"{where}: {net!r} is not a network like '10.0.0.0/8'") from None
    _draft.set("trusted_proxies", tuple(out), where)


# --- API gateway (README "Enabling API Gateway Server") ------------------------------------


def enable_gateway(enable_auth: bool = True, secure_key: str | bytes | None = None,
                   realm: str = "API Gateway", *, auth_handler: Any = None,
                   algorithms: str | list[str] | None = None, public_key: str | None = None,
                   jwks: str | None = None, audience: str | None = None,
                   issuer: str | None = None, leeway: float = 30,
                   require: str | list[str] | tuple[str, ...] = ()) -> None:
    """Authenticate requests to the alias mounts with bearer tokens: JWTs verified with
    ``secure_key`` (HS256; ``algorithms`` pins others) or ``public_key``/``jwks`` (RS256,
    ES256...), opaque tokens through the auth handler (``handle_token``/``handle_claim``,
    given here or with ``wac.handler.set_auth_handler``).  ``secure_key`` may be
    ``"${ENV_NAME}"``.  ``enable_auth=False``: no authentication (``source=`` still holds)."""
    from skitai.config import gateway

    where = _call("enable_gateway", 1, enable_auth=enable_auth, realm=realm)
    _draft.set("gateway", gateway.make_gateway(
        enable_auth, secure_key, realm, where=where, algorithms=algorithms,
        public_key=abspath(public_key) if public_key and not public_key.lstrip().startswith("-")
        else public_key, jwks=abspath(jwks) if jwks and not jwks.lstrip().startswith("{")
        else jwks, audience=audience, issuer=issuer, leeway=leeway,
        require=require, auth_handler=auth_handler), where)


def set_rate_limit(requests: float, per: float = 1.0, burst: int | None = None,
                   key: str = "user") -> None:
    """At most ``requests`` per ``per`` seconds (``burst`` at once) per user (``key="user"``:
    the authenticated user, else the client address) or per address, on the alias mounts,
    counted across all workers; beyond it a 429 with Retry-After."""
    from skitai.config import gateway
    from skitai.ipc import buckets

    where = _call("set_rate_limit", 1, requests=requests, per=per, burst=burst, key=key)
    limit = gateway.make_rate_limit(requests, per, burst, key, where=where)
    _draft.set("rate_limit", limit, where)
    # The shared table is made here, in the process that runs app.py and forks the
    # workers (a runtime object, so not in the config): every worker inherits it.
    buckets.shared(limit.slots)


def enable_proxy(unsecure_https: bool = False, *, clients: Any = None, hosts: Any = None,
                 ports: Any = None) -> None:
    """A forward HTTP proxy on the main listener: absolute-form requests
    (``GET http://host/path``) and ``CONNECT host:443`` tunnels.  Only ``clients``
    (networks; default: loopback only) may use it, only to ``hosts`` (names,
    ``.domain`` suffixes; default: any) on ``ports`` (default 80 and 443): never an
    open proxy.  ``unsecure_https``: https:// targets without certificate checks."""
    from skitai.config import gateway

    where = _call("enable_proxy", 1, unsecure_https=unsecure_https, clients=clients,
                  hosts=hosts, ports=ports)
    _draft.set("forward_proxy", gateway.make_proxy(unsecure_https, clients, hosts, ports,
                                                   where=where), where)


def enable_cachefs(memmax: int | str = 0, diskmax: int | str = 0,
                   path: str | None = None) -> None:
    """Cache proxied responses by their HTTP headers (Cache-Control, Expires, Vary,
    ETag/Last-Modified revalidation).  ``memmax``: bytes kept in each worker's memory;
    ``diskmax``: bytes kept on disk under ``path`` (default ``<varpath>/cachefs``),
    shared by the workers.  Sizes are bytes, or text like ``"10M"`` (the original took
    megabytes while its README wrote bytes)."""
    from skitai.config import gateway, parse

    where = _call("enable_cachefs", 1, memmax=memmax, diskmax=diskmax, path=path)
    try:
        mem, disk = parse.size(memmax), parse.size(diskmax)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if path is not None and (not isinstance(path, str) or not path):
        raise ConfigError(f"{where}: path is a directory")
    _draft.set("cachefs", gateway.CacheConfig(mem, disk, abspath(path) if path else None), where)


def set_proxy_keep_alive(channel: float = 60, tunnel: float = 600) -> None:
    """Idle seconds of the forward proxy's connections to destinations (``channel``) and
    of its tunnels (``tunnel``: CONNECT, and WebSockets through the reverse proxy)."""
    _set("set_proxy_keep_alive", 1, proxy_keep_alive=channel, proxy_tunnel_timeout=tunnel)


# --- peer daemons ---------------------------------------------------------------------------


def cron(spec: str, command: str, *, _depth: int = 1, **options: Any) -> None:
    where = _call("cron", _depth, spec=spec, command=command)
    from skitai.cron import schedule  # croniter: only for an app.py that uses cron

    job = schedule.parse_job(spec, command, source=where, **options)
    _open(where).crons.append(job)


def enable_smtpda(server: str = "127.0.0.1:25", user: str | None = None,
                  password: str | None = None, ssl: bool = False, max_retry: int = 10,
                  keep_days: int = 3) -> None:
    where = _call("enable_smtpda", 1, server=server)
    if not isinstance(server, str) or not server:
        raise ConfigError(f"{where}: server is 'host:port'")
    for name, value in (("max_retry", max_retry), ("keep_days", keep_days)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: {name} must be a whole number >= 0")
    _open(where).smtpda = SmtpdaConfig(server=server, user=user, password=password,
                                       ssl=bool(ssl), max_retry=max_retry, keep_days=keep_days)


def enable_daemon(name: str, entry_or_command: str | list[str] | tuple[str, ...] | None = None,
                  **options: Any) -> None:
    """Run a service daemon under the master: ``"package.module:main"`` (called with a
    ``skitai.daemons.DaemonContext``), a command (``["sleep", "3600"]``), or, given only
    a name, a built-in or an installed package's ``skitai.daemons`` entry point.
    Options: count, restart (always | on-failure | never), startsecs, startretries,
    after, stop_signal, stop_timeout, env, cwd, stdout_log, stderr_log, log_max_bytes,
    log_backups, max_rss, max_cpu, heartbeat; any other keyword is the daemon's own
    configuration (``ctx.config``).  A ``[daemon:NAME]`` section of the config file
    supplies what this call leaves out."""
    from skitai.config import daemonspec as daemon_mod

    where = _call("enable_daemon", 1, daemon=name, entry_or_command=entry_or_command)
    # Checked now, so a mistake is reported at this line (the section may still add keys).
    if entry_or_command is not None or daemon_mod.installed(name) is not None:
        daemon_mod.build(name, entry_or_command, options, where, daemon_mod.installed)
    _open(where).daemons[name] = (entry_or_command, dict(options), where)


def enable_cluster(redis_url: str = "redis://127.0.0.1:6379/0", name: str | None = None,
                   **options: Any) -> None:
    """Join the hosts that run this app.py over Redis (``rediss://`` for TLS): ``setlu``,
    broadcasts, WebSocket rooms, ``cluster="once"`` cron jobs and ``skitai status
    --cluster`` span them.  ``name`` keys what they share (default: the app's name).
    Options: host, heartbeat, max_message, max_queue, ca_file, cert_file, key_file; the password
    comes from ``SKITAI_CLUSTER_PASSWORD`` or ``[cluster] password`` in a 0600 file."""
    from skitai.config import cluster as cluster_mod

    where = _call("enable_cluster", 1, redis_url=redis_url)
    url = cluster_mod.check_url(redis_url, where)
    fields = {"host", "heartbeat", "max_message", "max_queue", "ca_file", "cert_file", "key_file",
              "username"}
    if "password" in options:
        raise ConfigError(f"{where}: give the password in SKITAI_CLUSTER_PASSWORD or [cluster]")
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(fields))})")
    queue = options.get("max_queue", 1)
    if isinstance(queue, bool) or not isinstance(queue, int) or queue < 1:
        raise ConfigError(f"{where}: max_queue is a whole number >= 1, got {queue!r}")
    cluster_name = cluster_mod.check_name(name, where) if name is not None else (
        _draft.get("name") if _draft.get("name") != "skitai" else
        os.path.splitext(os.path.basename(_script() or "skitai"))[0])
    _draft.cluster_given = ("url", *options, *(("name",) if name is not None else ()))
    _draft.cluster = cluster_mod.ClusterConfig(url=url, name=cluster_mod.check_name(
        "".join(c if c.isalnum() or c in "-_." else "-" for c in cluster_name), where), **options)


def enable_spooler(count: int = 2, **options: Any) -> None:
    """The task spooler: ``count`` runners execute what ``@skitai.task`` functions and
    ``was.spool(func, *args)`` queue (options: retries, timeout, backoff, durable, ...;
    see ``skitai.spooler.daemon``)."""
    where = _call("enable_spooler", 1, count=count)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"{where}: count must be a whole number >= 1")
    _open(where).daemons["spooler"] = (None, {"count": count, **options}, where)


def enable_metrics(port: int = 9100, address: str = "127.0.0.1", **options: Any) -> None:
    """A Prometheus exporter (``prometheus_client``) of what the master's shared memory
    holds, on its own port, bound to 127.0.0.1 unless ``address`` says otherwise."""
    where = _call("enable_metrics", 1, port=port, address=address)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{where}: port must be 1..65535")
    _open(where).daemons["metrics"] = (None, {"port": port, "address": address, **options}, where)


def task(func: Any = None, *, retries: int | None = None, timeout: float | None = None) -> Any:
    """``@skitai.task``: calling the decorated function queues it for the spooler."""
    from skitai.spooler import queue

    return queue.task(func, retries=retries, timeout=timeout)


# --- running ------------------------------------------------------------------------------------


def run(address: str | None = None, port: int | None = None, threads: int | None = None,
        workers: int | None = None, logpath: str | None = None, varpath: str | None = None,
        mount: Any = None, **options: Any) -> NoReturn:
    """Freeze the draft and run: ``python app.py [start|stop|restart|status|-d|-s|-r|-v]``."""
    depth = 1
    draft = _open(f"{_caller(depth)}: skitai.run()")
    given = {"address": address, "port": port, "threads": threads, "workers": workers,
             "logpath": logpath, "varpath": varpath}
    given.update(options)
    for name, value in given.items():
        if value is not None:
            if name not in builder_mod._FIELDS:
                raise ConfigError(f"{_caller(depth)}: skitai.run() got an unknown argument {name!r}")
            draft.set(name, value, _call("run", depth, **{name: value}))
    if mount:
        items = mount.items() if isinstance(mount, dict) else mount
        for point, obj in items:
            globals()["mount"](point, obj, _depth=2)
    script = _script()
    if script:
        draft.set("script", script, "app.py")
        draft.set("swd", os.path.dirname(script), "app.py")
        parent = os.path.basename(os.path.dirname(script))
        stem = os.path.splitext(os.path.basename(script))[0]
        # Below every source: [common] process-display-name or run(name=) wins.
        draft.default_name = f"{parent}/{stem}" if parent else stem
        os.chdir(os.path.dirname(script))
    draft.closed = True  # from here on, a skitai.mount()/cron()/... call changes nothing
    from skitai import cli

    cli.run_app(draft, sys.argv[1:])


# --- TLS --------------------------------------------------------------------------------------------


def enable_ssl(cert: str, key: str | None = None, passphrase: str | None = None) -> None:
    """The main listener speaks TLS (1.2+) with ALPN ``h2`` and ``http/1.1`` (README "Run
    as HTTPS Server").  Paths are relative to app.py; the files are read by each worker
    when it starts, so a reload (HUP) picks up renewed certificates."""
    where = _call("enable_ssl", 1, cert=cert, key=key)
    values: dict[str, Any] = {}
    for name, value in (("ssl_cert", cert), ("ssl_key", key)):
        if value is None and name == "ssl_key":
            continue
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {name[4:]} must be a file path")
        path = abspath(value)
        if not os.path.isfile(path):
            raise ConfigError(f"{where}: no {name[4:]} file at {path}")
        values[name] = path
    if passphrase is not None and not isinstance(passphrase, str):
        raise ConfigError(f"{where}: passphrase must be a string")
    values["ssl_passphrase"] = passphrase or None
    for name, value in values.items():
        _open(where).set(name, value, where)


def enable_forward(port: int = 80, forward_to: int = 443, hosts: Any = None) -> None:
    """Also listen on ``port`` (clear text) and redirect every request to HTTPS on
    ``forward_to``.  Redirects go only to ``hosts`` (default: the mounts' ``host=``
    names); a request for any other Host goes to the first of them."""
    where = _call("enable_forward", 1, port=port, forward_to=forward_to)
    if isinstance(hosts, str):
        hosts = [hosts]
    names = tuple(hosts or ())
    for name in names:
        if not isinstance(name, str) or not name or "/" in name or ":" in name.strip("[]"):
            raise ConfigError(f"{where}: hosts are names like 'www.example.com' or '.example.com'")
    draft = _open(where)
    draft.set("forward_port", port, where)
    draft.set("forward_to", forward_to, where)
    draft.set("forward_hosts", tuple(n.lower() for n in names), where)
