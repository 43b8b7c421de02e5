"""``skitai daemon NAME -f FILE start|stop|restart|status|foreground``: one daemon without
a master, from a config file, behind a pid file (``skitai.ipc.service``).

smtpda and cron keep their own settings sections (``[smtpda]``, ``[cron]`` +
``[:crontab]``) and pid files, so ``skitai daemon smtpda ...`` is ``skitai smtpda ...``;
any other daemon comes from its ``[daemon:NAME]`` section (or, named only, from an
installed package), with its pid file at ``<var-path>/<name>.pid`` (``[common] var-path``,
default ``~/.skitai``) and its output in ``<log-path>/<name>.log``.
"""

from __future__ import annotations

import os
import sys

from skitai.config import conffile, daemonspec
from skitai.config.builder import Builder
from skitai.daemons import host
from skitai.errors import ConfigError

ACTIONS = ("start", "stop", "restart", "status", "foreground")


def control(name: str, action: str, conf_path: str | None, verbose: bool = False) -> int:
    if name == "smtpda":
        from skitai.smtpda import main as smtpda_main

        return smtpda_main.cli_main([*(["-f", conf_path] if conf_path else []),
                                     *(["-v"] if verbose else []), *_verb(action)])
    if name == "cron":
        from skitai.cron import main as cron_main

        return cron_main.cli_main([*(["-f", conf_path] if conf_path else []),
                                   *(["-v"] if verbose else []), *_verb(action)])
    try:
        path = conf_path or (conffile.default_path()
                             if os.path.exists(conffile.default_path()) else None)
        conf = conffile.read(path) if path else None
        config = Builder().freeze(conf=conf, overrides={"verbose": True} if verbose else None)
        spec = next((d for d in config.daemons if d.name == name), None)
        if spec is None:
            spec = daemonspec.build(name, None, {}, path or "command line", daemonspec.installed)
            config = config.replace(daemons=(*config.daemons, spec))
    except ConfigError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    var = os.path.abspath(os.path.expanduser(config.varpath or "~/.skitai"))
    stdio = os.devnull
    if config.logpath:
        logdir = os.path.abspath(os.path.expanduser(config.logpath))
        os.makedirs(logdir, exist_ok=True)
        stdio = os.path.join(logdir, f"{name}.log")
    return host.standalone(action, spec, config, pid_path=os.path.join(var, f"{name}.pid"),
                           stdio_path=stdio, workdir=os.path.abspath(config.swd))


def _verb(action: str) -> list[str]:
    return [] if action == "foreground" else [action]


def run_click(command: object, argv: list[str], prog: str) -> int:
    """Run a click command as a function: its return value (an exit code), 2 on a usage
    error (click's message on stderr), 0 after ``--help``."""
    import click

    assert isinstance(command, click.Command)
    try:
        result = command.main(args=list(argv), prog_name=prog, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        return 1
    return int(result or 0)
