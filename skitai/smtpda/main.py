"""The smtpda composition root: under the master (``run``) and standalone (``cli_main``).

Spool directory (one, shared by the app and the daemon): ``SmtpdaConfig.spool``, else
``<varpath>/smtpda``, else ``~/.skitai/smtpda``; see ``spool_dir()``.  A web worker must
call ``skitai.smtpda.message.configure(spool_dir(config.smtpda, config.varpath),
config.smtpda.server)`` at boot.  The password comes from the config file (refused when
group/world readable) or ``SKITAI_SMTP_PASSWORD``, never from argv.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from skitai.config import conffile

# The [smtpda] reader lives with the config: the builder and the web worker use it too.
from skitai.config.daemons import SmtpdaConfig, config_from_conf, spool_dir
from skitai.config.model import ServerConfig
from skitai.errors import ConfigError, ExitCode
from skitai.ipc import service
from skitai.ipc.context import ChildContext
from skitai.proctitle import set_title
from skitai.smtpda import agent, spool

ENV_PASSWORD = "SKITAI_SMTP_PASSWORD"
log = logging.getLogger("skitai.smtpda")


def with_env_password(cfg: SmtpdaConfig) -> SmtpdaConfig:
    pw = os.environ.get(ENV_PASSWORD)
    return dataclasses.replace(cfg, password=pw) if pw and not cfg.password else cfg


def serve(cfg: SmtpdaConfig, spool_path: str, on_ready: Callable[[], None] | None = None, *,
          ctx: Any = None, owner: str | None = None) -> int:
    """Deliver until stopped.  ``ctx`` (a DaemonContext): stop through it and report the
    queue depth to ``skitai status``; ``owner``: deliver only that configuration's
    messages (None: untagged ones, the standalone daemon's share)."""
    sp = spool.Spool(spool_path)
    ag = agent.Agent(cfg, sp, owner=owner)

    async def report() -> None:
        while True:
            s = sp.stats()
            ctx.status({"queued": int(s["queued"]), "deferred": int(s["deferred"]),
                        "failed": int(s["failed"])})
            await asyncio.sleep(2.0)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if ctx is not None:
            ctx.on_stop(lambda: loop.call_soon_threadsafe(ag.stop))
            reporter = asyncio.create_task(report())
        else:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                loop.add_signal_handler(sig, ag.stop)
        if on_ready:
            on_ready()
        try:
            await ag.run()
        finally:
            if ctx is not None:
                reporter.cancel()

    asyncio.run(main())
    return 0


def run(config: ServerConfig, ctx: ChildContext) -> int:
    """Entry under the master: ``skitai.smtpda.main:run(config, ctx)``."""
    try:
        cfg = with_env_password(config.smtpda or SmtpdaConfig())
        path = spool_dir(cfg, config.varpath)
        set_title(ctx.title or f"skitai({config.name}): smtpda")
    except Exception as exc:  # noqa: BLE001
        print(f"smtpda: boot failed: {exc}", file=sys.stderr)
        return int(ExitCode.BOOT_ERROR)
    return serve(cfg, path)


def _command() -> Any:
    import click

    @click.command("smtpda", help="The skitai SMTP delivery agent: deliver the mail spool.  "
                   "Without a command: run in the foreground.")
    @click.argument("command", required=False,
                    type=click.Choice(["start", "stop", "restart", "status"]))
    @click.option("-f", "--config", "conf", metavar="FILE", help="Config file ([smtpda], [common]).")
    @click.option("-d", "daemonize", is_flag=True, help="Same as start.")
    @click.option("-v", "--verbose", is_flag=True, help="Also log to the console.")
    @click.option("--smtp-server", metavar="HOST:PORT")
    @click.option("--user")
    @click.option("--ssl", is_flag=True, default=None)
    @click.option("--max-retry", type=int)
    @click.option("--keep-days", type=int)
    @click.option("--log-path")
    @click.option("--var-path")
    def command(**kw: Any) -> int:
        return _control(**kw)

    return command


def cli_main(argv: Sequence[str] | None = None) -> int:
    from skitai.daemons import standalone

    return standalone.run_click(_command(), list(sys.argv[1:] if argv is None else argv),
                                "skitai smtpda")


def _control(command: str | None, conf: str | None, daemonize: bool, verbose: bool,
             smtp_server: str | None, user: str | None, ssl: bool | None,
             max_retry: int | None, keep_days: int | None, log_path: str | None,
             var_path: str | None) -> int:
    try:
        cfg = SmtpdaConfig()
        if conf:
            cfg = config_from_conf(conffile.read(conf), cfg)
        over: dict[str, Any] = {
            "server": smtp_server, "user": user, "ssl": ssl, "max_retry": max_retry,
            "keep_days": keep_days, "log_path": log_path, "verbose": verbose or None}
        if var_path:
            over["spool"] = os.path.join(os.path.expanduser(var_path), "smtpda")
        cfg = with_env_password(dataclasses.replace(
            cfg, **{k: v for k, v in over.items() if v is not None}))
    except ConfigError as exc:
        print(f"smtpda: {exc}", file=sys.stderr)
        return 2
    path = spool_dir(cfg)
    os.makedirs(path, mode=0o700, exist_ok=True)
    action = command or ("start" if daemonize else "foreground")
    pid_path = os.path.join(path, "smtpda.pid")
    if action == "status":
        code = service.status("smtpda", pid_path)
        s = spool.Spool(path).stats()
        print(f"queued {s['queued']}  deferred {s['deferred']}  sent {s['sent']}  "
              f"failed {s['failed']}  oldest queued {s['oldest_queued_age']:.0f}s")
        return code
    _setup_logging(cfg, foreground=action == "foreground")
    # One code path for every standalone daemon: the host runs skitai.smtpda.daemon:main
    # with a context whose server config carries these settings and this spool.
    from skitai.config import daemonspec as daemon_mod
    from skitai.config.model import ServerConfig
    from skitai.daemons import host

    spec = daemon_mod.build("smtpda", None, {}, conf or "command line", daemon_mod.installed)
    config = ServerConfig(name="smtpda", smtpda=dataclasses.replace(cfg, spool=path),
                          daemons=(spec,))
    return host.standalone(action, spec, config, pid_path=pid_path, workdir=path,
                           title=cfg.process_display_name or "skitai-smtpda",
                           stdio_path=os.path.join(cfg.log_path, "smtpda.log")
                           if cfg.log_path else os.devnull)


def _setup_logging(cfg: SmtpdaConfig, foreground: bool) -> None:
    handlers: list[logging.Handler] = []
    if cfg.log_path:
        os.makedirs(cfg.log_path, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(cfg.log_path, "smtpda.log")))
    if foreground or cfg.verbose or not handlers:
        handlers.append(logging.StreamHandler())
    logging.basicConfig(level=logging.INFO if cfg.verbose else logging.WARNING,
                        handlers=handlers, format="%(asctime)s %(levelname)s %(message)s")


def main() -> None:
    sys.exit(cli_main(sys.argv[1:]))
