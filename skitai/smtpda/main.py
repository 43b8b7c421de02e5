"""The smtpda composition root: under the master (``run``) and standalone (``cli_main``).

Spool directory (one, shared by the app and the daemon): ``SmtpdaConfig.spool``, else
``<varpath>/smtpda``, else ``~/.skitai/smtpda``; see ``spool_dir()``.  A web worker must
call ``skitai.smtpda.message.configure(spool_dir(config.smtpda, config.varpath),
config.smtpda.server)`` at boot.  The password comes from the config file (refused when
group/world readable) or ``SKITAI_SMTP_PASSWORD``, never from argv.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from skitai.config import conffile

# The [smtpda] reader lives with the config: the builder and the web worker use it too.
from skitai.config.daemons import SmtpdaConfig, config_from_conf, spool_dir
from skitai.config.model import ServerConfig
from skitai.errors import ConfigError, ExitCode
from skitai.ipc import daemon, service
from skitai.ipc.context import ChildContext
from skitai.proctitle import set_title
from skitai.smtpda import agent, spool

ENV_PASSWORD = "SKITAI_SMTP_PASSWORD"
log = logging.getLogger("skitai.smtpda")


def with_env_password(cfg: SmtpdaConfig) -> SmtpdaConfig:
    pw = os.environ.get(ENV_PASSWORD)
    return dataclasses.replace(cfg, password=pw) if pw and not cfg.password else cfg


def serve(cfg: SmtpdaConfig, spool_path: str, on_ready: Callable[[], None] | None = None) -> int:
    sp = spool.Spool(spool_path)
    ag = agent.Agent(cfg, sp)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, ag.stop)
        if on_ready:
            on_ready()
        await ag.run()

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


def cli_main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smtpda", description="Skitai SMTP delivery agent")
    p.add_argument("command", nargs="?", default=None,
                   choices=["start", "stop", "restart", "status"])
    p.add_argument("-f", "--conf", default=None)
    p.add_argument("-d", action="store_true", help="start as a daemon")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--smtp-server")
    p.add_argument("--user")
    p.add_argument("--ssl", action="store_true", default=None)
    p.add_argument("--max-retry", type=int)
    p.add_argument("--keep-days", type=int)
    p.add_argument("--log-path")
    p.add_argument("--var-path")
    a = p.parse_args(argv)
    try:
        cfg = SmtpdaConfig()
        if a.conf:
            cfg = config_from_conf(conffile.read(a.conf), cfg)
        over = {"server": a.smtp_server, "user": a.user, "ssl": a.ssl, "max_retry": a.max_retry,
                "keep_days": a.keep_days, "log_path": a.log_path,
                "verbose": a.verbose or None}
        if a.var_path:
            over["spool"] = os.path.join(os.path.expanduser(a.var_path), "smtpda")
        cfg = with_env_password(dataclasses.replace(
            cfg, **{k: v for k, v in over.items() if v is not None}))
    except ConfigError as exc:
        print(f"smtpda: {exc}", file=sys.stderr)
        return 2
    path = spool_dir(cfg)
    os.makedirs(path, mode=0o700, exist_ok=True)
    command = a.command or ("start" if a.d else "foreground")
    if command == "status":
        code = service.status("smtpda", os.path.join(path, "smtpda.pid"))
        s = spool.Spool(path).stats()
        print(f"queued {s['queued']}  deferred {s['deferred']}  sent {s['sent']}  "
              f"failed {s['failed']}  oldest queued {s['oldest_queued_age']:.0f}s")
        return code
    _setup_logging(cfg, foreground=command == "foreground")

    def runner(ready: int | None) -> int:
        set_title(cfg.process_display_name or "skitai-smtpda")
        return serve(cfg, path, on_ready=lambda: daemon.report_ready(ready))

    return service.control(command, name="smtpda", pid_path=os.path.join(path, "smtpda.pid"),
                           run=runner, workdir=path,
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
