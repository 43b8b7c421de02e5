"""The web worker's composition root: builds the runtime objects from ``ServerConfig``.

``run(config, ctx)`` is the entry the master calls after fork, with the listeners the
master bound (``python app.py`` always runs a master, with one worker by default).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import ssl
import time
from typing import Any

from skitai import log as logmod
from skitai.config.model import ServerConfig
from skitai.errors import ExitCode
from skitai.ipc.context import ChildContext
from skitai.proctitle import set_title
from skitai.was import runtime as was_runtime
from skitai.worker import apps, forward, reloader, routing, tls, wsgi
from skitai.worker import environ as environ_mod
from skitai.worker.connections import http2, websocket_h2
from skitai.worker.connections.http1 import Http1Connection
from skitai.worker.pool import ThreadPool
from skitai.worker.server import Server

log = logging.getLogger("skitai.server")


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # uvloop is optional on platforms without it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def build_router(config: ServerConfig, loop: asyncio.AbstractEventLoop,
                 executor: ThreadPool | None, *, generation: int = 0,
                 mounted: list[Any] | None = None,
                 reloading: list[str] | None = None) -> routing.Router:
    """The mount table; apps with lifecycle hooks (``apps.Mountable``: Saddle) are
    mounted and appended to ``mounted`` (``apps.umount`` at the worker's end);
    ``reloading`` collects the mounted files whose app wants ``use_reloader`` (Saddle
    watches its own)."""
    import skitai.was
    from skitai.worker import static

    router = routing.Router()
    base = environ_mod.base_environ(multithread=executor is not None,
                                    multiprocess=config.workers > 1,
                                    file_wrapper=wsgi.FileWrapper)
    base["skitai.was"] = skitai.was
    if executor is None:
        base["skitai.awaitable"] = True  # inline: an app may return an awaitable (Saddle's async views)
    hosts: dict[str | None, dict[str, Any]] = {}
    for spec in config.mounts:
        table = router.table_for(spec.host)
        if spec.kind == "static":
            table.add(spec.point, static=static.StaticDirectory(
                spec.target, max_ages=config.max_ages,
                mount_point="" if spec.point == "/" else spec.point))
        elif spec.kind == "app":
            app = apps.load(spec)
            if apps.mount(app, spec, {"was": skitai.was, "loop": loop, "threads": config.threads,
                                      "apps": hosts.setdefault(spec.host, {}),
                                      "remount": generation > 0}):
                if mounted is not None:
                    mounted.append(app)
            elif reloading is not None:
                watched = reloader.watched_file(spec, app)
                if watched:
                    reloading.append(watched)
            pref = spec.pref
            debug = bool(getattr(pref, "debug", False)) or config.debug
            limit = getattr(pref, "max_client_body_size", None) if pref else None
            handler = wsgi.WsgiHandler(app, loop=loop, executor=executor, base=base, debug=debug,
                                       body_timeout=config.request_timeout,
                                       body_limit=int(limit) if limit else config.max_client_body_size,
                                       body_buffer_size=config.client_body_buffer_size)
            handler.apply_pref(pref)
            table.add(spec.point, app=handler)
        elif spec.kind == "alias":  # a load-balanced reverse proxy (skitai.gateway)
            from skitai.gateway import mounts

            table.add(spec.point, app=mounts.proxy_handler(config, spec, loop))
    if config.forward_proxy is not None:
        from skitai.gateway import forward

        router.forward_proxy = forward.ForwardProxy(config, loop)
    return router


def run(config: ServerConfig, ctx: ChildContext) -> int:
    set_title(f"skitai({config.name}): worker #{ctx.slot}")
    logs = logmod.Logs(config.logpath, config.verbose)
    loop = new_loop()
    asyncio.set_event_loop(loop)
    executor = ThreadPool(config.threads, loop, max_threads=config.max_threads or None) \
        if config.threads else None
    _configure_mail(config)
    _configure_spooler(config)
    mounted: list[Any] = []
    was_runtime.start(config, loop)  # was.* calls run on this loop
    reloading: list[str] = []
    imported_at = time.time()
    try:
        router = build_router(config, loop, executor, generation=ctx.generation, mounted=mounted,
                              reloading=reloading)
    except BaseException:  # noqa: BLE001 - any import failure of user code
        log.exception("worker #%d: cannot load the mounted apps", ctx.slot)
        logs.close()
        return ExitCode.APP_LOAD_ERROR
    try:
        ssl_context = tls.context_from_config(config)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        log.error("worker #%d: cannot load the TLS certificate: %s", ctx.slot, exc)
        logs.close()
        return ExitCode.BOOT_ERROR
    server = Server(config, router, logs, loop=loop, worker_label=f"W{ctx.slot}",
                    scheme="https" if ssl_context is not None else "http")
    http2.install(server)
    websocket_h2.install()  # WebSocket over HTTP/2 (RFC 8441 extended CONNECT)
    supervision: Any = None
    watcher: reloader.Reloader | None = None
    try:
        try:
            loop.run_until_complete(_start_listeners(server, config, ctx, ssl_context))
        except OSError as exc:  # a listener the loop cannot serve
            log.error("worker #%d: cannot listen: %s", ctx.slot, exc)
            return ExitCode.BOOT_ERROR
        if ctx.supervised:
            from skitai.worker import child

            supervision = child.Supervision(config, ctx)
            supervision.attach(loop, server, executor)
            server.on_request = supervision.on_request
            if reloading and ctx.slot == 0:
                watcher = reloader.Reloader(
                    reloading, imported_at, stopping=lambda: server.stopping,
                    request=lambda: supervision.send({"op": "request", "cmd": "reload"}))
                watcher.start(loop)
        else:
            _own_signals(loop, server)
        log.info("worker #%d serving (pid %d)", ctx.slot, os.getpid())
        # Everything made so far (the apps, their imports, ours) lives as long as the
        # worker: out of the collector's sight, a collection looks only at what requests
        # allocate (and pages shared with the master stay shared).
        gc.freeze()
        loop.run_until_complete(server.serve())
    finally:
        if watcher is not None:
            loop.run_until_complete(watcher.stop())
        apps.umount(mounted)
        if executor is not None:
            executor.shutdown()
        loop.run_until_complete(was_runtime.stop())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        log.info("worker #%d stopped", ctx.slot)
        logs.close()
    return int(getattr(supervision, "exit_code", 0) or 0)


async def _start_listeners(server: Server, config: ServerConfig, ctx: ChildContext,
                           ssl_context: ssl.SSLContext | None) -> None:
    """The main listeners (TLS when enable_ssl), and the enable_forward port; the master
    binds them all (``master/listeners.bind``), the forward one is told apart by its port."""
    forward_port = config.forward_port
    main, fwd = [], None
    for sock in ctx.listeners:
        name = sock.getsockname()
        if forward_port and sock.family != socket.AF_UNIX and name[1] == forward_port:
            fwd = sock
        else:
            main.append(sock)
    # HTTP/1.1 first on every listener; ALPN h2 (TLS), the h2c preface or an Upgrade
    # hand the transport to another connection class (connections/).
    await server.start(main, lambda: Http1Connection(server), ssl_context)
    if forward_port and fwd is None:
        # Adopted sockets (systemd) without one on the forward port: say so, serve the rest.
        log.warning("enable_forward(%d): no listener on that port was passed in", forward_port)
    elif fwd is not None:
        redirect = forward.forward_router(config)
        await server.listen(fwd, lambda: Http1Connection(server, redirect))


def _own_signals(loop: asyncio.AbstractEventLoop, server: Server) -> None:
    """Without a master: TERM and the first Ctrl-C stop gracefully, a second one at once."""
    loop.add_signal_handler(signal.SIGTERM, server.stop, True)
    loop.add_signal_handler(signal.SIGINT, _interrupt, server)
    loop.add_signal_handler(signal.SIGQUIT, server.stop, False)
    loop.add_signal_handler(signal.SIGUSR1, server.reopen_logs)


def _interrupt(server: Server) -> None:
    server.stop(not server.stopping)


def _configure_spooler(config: ServerConfig) -> None:
    """Point ``was.spool()`` / ``@skitai.task`` at the spool the spooler daemon reads."""
    if any(d.name == "spooler" for d in config.daemons):
        from skitai.spooler import queue

        queue.configure(queue.spool_dir(config), queue.durable(config))


def _configure_mail(config: ServerConfig) -> None:
    """Point ``was.email().send()`` at the spool the smtpda daemon reads: the same
    ``spool_dir()`` the smtpda child computes from the same config (``enable_smtpda()``
    merged with ``[smtpda]`` by the builder).  Without ``enable_smtpda()`` the spool is
    still the one a standalone ``skitai smtpda -f CONF`` would use: ``[smtpda] spool`` or
    ``var-path`` of the config file, else ``~/.skitai/smtpda``."""
    from skitai.config.daemons import SmtpdaConfig, config_from_conf, spool_dir
    from skitai.smtpda import message

    cfg = config.smtpda
    if cfg is None and config.conf_file:
        from skitai.config import conffile

        try:
            cfg = config_from_conf(conffile.read(config.conf_file))
        except Exception as exc:  # noqa: BLE001 - mail must not stop the web worker booting
            log.warning("mail spool: cannot read [smtpda] of %s (%s); using the default",
                        config.conf_file, exc)
    if config.smtpda is not None:  # our own smtpda child: <varpath>/smtpda by default
        message.configure(spool_dir(cfg or config.smtpda, config.varpath),
                          config.smtpda.server, owner=message.owner_of(config))
    else:  # a standalone daemon's spool, which knows nothing of this app's varpath
        message.configure(spool_dir(cfg or SmtpdaConfig()), None)
