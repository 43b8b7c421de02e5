"""smtpda on the daemon interface: ``skitai.smtpda.daemon:main(ctx)``.

The mail settings are ``ctx.server_config.smtpda`` (``enable_smtpda()`` merged with
``[smtpda]``); the spool is the one the web workers write (``spool_dir``), and only the
messages this configuration queued are delivered (see ``skitai.smtpda.message.owner_of``).
The queue depth goes to ``skitai status`` through ``ctx.status``.
"""

from __future__ import annotations

import sys

from skitai.config.daemons import SmtpdaConfig, spool_dir
from skitai.daemons.context import DaemonContext
from skitai.errors import ExitCode
from skitai.smtpda import main as smtpda_main
from skitai.smtpda import message


def main(ctx: DaemonContext) -> int:
    config = ctx.server_config
    try:
        cfg = smtpda_main.with_env_password(getattr(config, "smtpda", None) or SmtpdaConfig())
        path = spool_dir(cfg, getattr(config, "varpath", None))
    except Exception as exc:  # noqa: BLE001
        print(f"smtpda: boot failed: {exc}", file=sys.stderr)
        return int(ExitCode.BOOT_ERROR)
    # Under a master: this configuration's messages only.  Standalone (the seed's
    # rc.local daemon, possibly two sharing a spool on purpose): the untagged ones.
    owner = message.owner_of(config) if ctx.supervised else None
    return smtpda_main.serve(cfg, path, ctx=ctx, owner=owner)
