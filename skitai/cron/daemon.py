"""cron on the daemon interface: ``skitai.cron.daemon:main(ctx)``.

Under a master the jobs are ``ctx.server_config.crons`` (``skitai.cron()`` and the
config file's ``[:crontab]``); the stop comes through the context (signal or the
master's EOF), and each run's lock keeps a standalone ``skitai cron -f`` on the same
file from running the same job at the same time (see ``skitai.cron.runner``).
"""

from __future__ import annotations

import asyncio

from skitai.cron import main as cron_main
from skitai.daemons.context import DaemonContext
from skitai.errors import ExitCode


def main(ctx: DaemonContext) -> int:
    if "settings" in ctx.config:  # standalone: settings the command line already resolved
        settings = cron_main.Settings(**ctx.config["settings"])
        cron: cron_main.Cron | None = cron_main.Cron(
            ctx.server_config.crons, settings,
            cron_main.setup_logging(settings.log_path, settings.verbose))
        from skitai.cron import once

        once.attach(cron, getattr(ctx.server_config, "cluster", None))
    else:
        cron = cron_main.for_config(ctx.server_config)
    if cron is None:
        return int(ExitCode.BOOT_ERROR)

    async def serve() -> int:
        assert cron is not None
        loop = asyncio.get_running_loop()
        ctx.on_stop(lambda: loop.call_soon_threadsafe(_stop, cron, ctx))
        ctx.status(f"{len(cron.jobs)} job(s)")
        return await cron.serve()  # (the host already told a waiting `start`)

    return asyncio.run(serve())


def _stop(cron: cron_main.Cron, ctx: DaemonContext) -> None:
    if ctx.stop_reason == "lost the master":
        cron.log.warning("lost the master: stopping")
    cron.stop()
