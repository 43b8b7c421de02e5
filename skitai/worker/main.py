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
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skitai import log as logmod
from skitai.config.model import ServerConfig
from skitai.errors import ExitCode
from skitai.ipc.context import ChildContext
from skitai.worker import apps, h2conn, reloader, routing, tls, websocket_h2, wsgi
from skitai.worker import environ as environ_mod
from skitai.worker.server import Server

log = logging.getLogger("skitai.server")


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # uvloop is optional on platforms without it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def build_router(config: ServerConfig, loop: asyncio.AbstractEventLoop,
                 executor: ThreadPoolExecutor | None,
                 reloading: list[str] | None = None) -> routing.Router:
    """``reloading`` collects the mounted files whose app wants ``use_reloader``."""
    from skitai.worker import static

    router = routing.Router()
    base = environ_mod.base_environ(multithread=executor is not None,
                                    multiprocess=config.workers > 1,
                                    file_wrapper=wsgi.FileWrapper)
    for spec in config.mounts:
        table = router.table_for(spec.host)
        if spec.kind == "static":
            table.add(spec.point, static=static.StaticDirectory(
                spec.target, max_ages=config.max_ages,
                mount_point="" if spec.point == "/" else spec.point))
        elif spec.kind == "app":
            app = apps.load(spec)
            pref = spec.pref
            watched = reloader.watched_file(spec, app)
            if watched and reloading is not None:
                reloading.append(watched)
            debug = bool(getattr(pref, "debug", False)) or config.debug
            handler = wsgi.WsgiHandler(app, loop=loop, executor=executor, base=base, debug=debug,
                                       body_timeout=config.request_timeout)
            limit = getattr(pref, "max_client_body_size", None) if pref else None
            handler.body_limit = int(limit) if limit else config.max_client_body_size  # type: ignore[attr-defined]
            table.add(spec.point, app=handler)
    return router


def run(config: ServerConfig, ctx: ChildContext) -> int:
    _set_title(f"skitai({config.name}): worker #{ctx.slot}")
    logs = logmod.Logs(config.logpath, config.verbose)
    loop = new_loop()
    asyncio.set_event_loop(loop)
    executor = ThreadPoolExecutor(config.threads, thread_name_prefix="wsgi") if config.threads else None
    _configure_mail(config)
    reloading: list[str] = []
    imported_at = time.time()
    try:
        router = build_router(config, loop, executor, reloading)
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
    h2conn.install(server)
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
            supervision.attach(loop, server)
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
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        log.info("worker #%d stopped", ctx.slot)
        logs.close()
    return int(getattr(supervision, "exit_code", 0) or 0)


async def _start_listeners(server: Server, config: ServerConfig, ctx: ChildContext,
                           ssl_context: Any) -> None:
    """The main listeners (TLS when enable_ssl), and the enable_forward port; the master
    binds them all (``master/listeners.bind``), the forward one is told apart by its port."""
    forward = config.forward_port
    main, fwd = [], None
    for sock in ctx.listeners:
        name = sock.getsockname()
        if forward and sock.family != socket.AF_UNIX and name[1] == forward:
            fwd = sock
        else:
            main.append(sock)
    if ssl_context is None:
        await server.start(main)
    else:
        for sock in main:
            await server.listen(sock, lambda: h2conn.TlsConnection(server), ssl_context)
        await server.start([])
    if forward and fwd is None:
        # Adopted sockets (systemd) without one on the forward port: say so, serve the rest.
        log.warning("enable_forward(%d): no listener on that port was passed in", forward)
    elif forward:
        server.forward_names = tls.forward_names(config)  # type: ignore[attr-defined]
        server.forward_to = config.forward_to  # type: ignore[attr-defined]
        await server.listen(fwd, lambda: tls.ForwardConnection(server))


def _own_signals(loop: asyncio.AbstractEventLoop, server: Server) -> None:
    """Without a master: TERM and the first Ctrl-C stop gracefully, a second one at once."""
    loop.add_signal_handler(signal.SIGTERM, server.stop, True)
    loop.add_signal_handler(signal.SIGINT, _interrupt, server)
    loop.add_signal_handler(signal.SIGQUIT, server.stop, False)
    loop.add_signal_handler(signal.SIGUSR1, server.reopen_logs)


def _interrupt(server: Server) -> None:
    server.stop(not server.stopping)


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
                          config.smtpda.server)
    else:  # a standalone daemon's spool, which knows nothing of this app's varpath
        message.configure(spool_dir(cfg or SmtpdaConfig()), None)


def _set_title(title: str) -> None:
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)
