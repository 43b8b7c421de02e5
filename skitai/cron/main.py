"""The cron daemon's composition root: under the master (``run``) and standalone (``cli_main``).

Under the master, jobs come from ``config.crons`` (``skitai.cron()`` calls, plus whatever
the builder took from ``[:crontab]``) and daemon settings from the ``[cron]`` section of
``config.conf_file`` when there is one.  Standalone (``skitai cron -f CONF start``,
``python -m skitai.cron``, ``python3 -m skitai.bin.cron``), jobs come from ``[:crontab]``.

``[cron]`` keys (``[common]`` supplies ``log-path``/``var-path``/``verbose`` too; command
line options win over both): ``log-path`` (directory of ``cron.log``), ``var-path``
(directory of ``cron.pid``, default ``~/.skitai/cron``), ``verbose`` (also log to the
console), ``process-display-name`` (standalone process title, default ``skitai-cron``),
``timezone`` (IANA zone for every job without its own; default local), ``timeout``
(seconds a run may take, default none), ``catch-up`` (grace seconds for a missed slot,
default 60; see ``schedule``), ``kill-grace`` (seconds between SIGTERM and SIGKILL, 5).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import logging.handlers
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skitai.config import conffile, parse
from skitai.config.daemons import CronJob
from skitai.config.model import ServerConfig
from skitai.cron import runner, schedule
from skitai.errors import ConfigError, ExitCode, ProtocolError
from skitai.ipc import control as codec
from skitai.ipc.context import ChildContext
from skitai.proctitle import set_title

CRON_KEYS = frozenset({"log-path", "var-path", "verbose", "process-display-name", "timezone",
                       "timeout", "catch-up", "kill-grace"})
# Longest sleep between looks at the wall clock: bounds how late a job runs after a
# suspend or a clock change (asyncio sleeps on the monotonic clock).
MAX_SLEEP = 5.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_RESET_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGCHLD",
                  "SIGTTIN", "SIGTTOU")


@dataclass(frozen=True)
class Settings:
    log_path: str | None = None
    var_path: str = os.path.expanduser("~/.skitai/cron")
    verbose: bool = False
    title: str = "skitai-cron"
    timezone: str | None = None
    timeout: float | None = None
    grace: float = schedule.DEFAULT_GRACE
    kill_grace: float = 5.0
    cwd: str = os.path.expanduser("~")


def read_settings(conf: conffile.ConfFile | None, base: Settings | None = None,
                  **overrides: object) -> Settings:
    """``[common]`` < ``[cron]`` < ``overrides`` (command line); errors name file:line."""
    values = dataclasses.asdict(base or Settings())
    if conf is not None:
        conffile.check_keys(conf, "cron", set(CRON_KEYS))
        parsers: dict[str, tuple[str, Callable[[str], object]]] = {
            "log-path": ("log_path", _path), "var-path": ("var_path", _path),
            "verbose": ("verbose", parse.boolean), "process-display-name": ("title", str),
            "timezone": ("timezone", _zone_name), "timeout": ("timeout", _timeout),
            "catch-up": ("grace", parse.seconds), "kill-grace": ("kill_grace", parse.seconds),
        }
        for section in ("common", "cron"):
            for entry in conf.section(section).values():
                if entry.key not in parsers or (section == "common" and entry.key not in
                                                 ("log-path", "var-path", "verbose")):
                    continue
                field, parser = parsers[entry.key]
                if entry.value == "":
                    continue  # "log-path =" means "not set", as in the README
                try:
                    values[field] = parser(entry.value)
                except ValueError as exc:
                    raise ConfigError(f"{conf.where(entry)}: [{section}] {entry.key}: {exc}",
                                      key=entry.key) from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


def _path(value: str) -> str:
    return os.path.abspath(os.path.expanduser(value))


def _zone_name(value: str) -> str:
    schedule.zone(value)
    return value


def _timeout(value: str) -> float | None:
    seconds = parse.seconds(value)
    return seconds or None  # 0: no timeout


def unique_names(jobs: Sequence[CronJob]) -> list[CronJob]:
    """Give every job a distinct name (``backup.sh``, ``backup.sh#2``): the name keys the
    one-run-at-a-time lock and the log lines."""
    seen: dict[str, int] = {}
    out = []
    for job in jobs:
        name = job.name or schedule.job_name(job.command)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        out.append(dataclasses.replace(job, name=name))
    return out


def build_schedules(jobs: Sequence[CronJob], default_zone: str | None) -> list[schedule.Schedule]:
    return [schedule.Schedule(j.spec, schedule.zone(j.timezone or default_zone, j.source), j.source)
            for j in jobs]


# --- the service ------------------------------------------------------------------------------


class Cron:
    """The scheduling loop: asks the timetable what is due, hands it to the runner."""

    def __init__(self, jobs: Sequence[CronJob], settings: Settings, log: logging.Logger, *,
                 clock: Callable[[], float] = time.time,
                 on_finish: Callable[[runner.RunResult], None] | None = None) -> None:
        self.jobs = unique_names(jobs)
        self.settings = settings
        self.log = log
        self.clock = clock
        self.schedules = build_schedules(self.jobs, settings.timezone)
        self.runner = runner.Runner(log, cwd=settings.cwd, timeout=settings.timeout,
                                    kill_grace=settings.kill_grace, on_finish=on_finish,
                                    lock_dir=os.path.join(settings.var_path, "locks"))
        self._stopping: asyncio.Event | None = None
        self.once: Any = None  # a cron.once.OnceRunner when the config has a cluster

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def serve(self, ready: Callable[[], None] | None = None) -> int:
        self._stopping = asyncio.Event()
        table = schedule.Timetable(self.schedules, self.clock(), grace=self.settings.grace)
        self.log.info("cron started (pid %d): %d job(s)", os.getpid(), len(self.jobs))
        for job, when in zip(self.jobs, table.next_fire, strict=True):
            self.log.info("[%s] %s: %s (next %s)", job.name, job.spec, job.command,
                          "at start" if when is None else _stamp(when))
        if ready is not None:
            ready()
        for i in table.reboot():
            self.runner.start(self.jobs[i].name or str(i), self.jobs[i], "@reboot")
        while not self._stopping.is_set():
            fires, missed = table.due(self.clock())
            for m in missed:
                self.log.warning("[%s] missed %d run(s), the latest due at %s: older than the "
                                 "%gs catch-up grace, skipped", self.jobs[m.index].name, m.count,
                                 _stamp(m.slot), self.settings.grace)
            for f in fires:
                job = self.jobs[f.index]
                late = f" ({f.coalesced} older missed run(s) folded in)" if f.coalesced else ""
                if job.cluster == "once" and self.once is not None:
                    self.once.fire(job.name or str(f.index), job, f.slot, f"for {_stamp(f.slot)}{late}")
                    continue
                self.runner.start(job.name or str(f.index), job, f"for {_stamp(f.slot)}{late}")
            wake = table.next_wakeup()
            delay = MAX_SLEEP if wake is None else min(max(wake - self.clock(), 0.0), MAX_SLEEP)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay + 0.002)
            except TimeoutError:
                pass
        self.log.info("cron stopping: %d job(s) running", len(self.runner.running))
        await self.runner.stop()
        if self.once is not None:
            await self.once.stop()
        self.log.info("cron stopped")
        return 0


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def setup_logging(log_dir: str | None, verbose: bool) -> logging.Logger:
    log = logging.getLogger("skitai.cron")
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = []
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
        # Watched: a rotated cron.log is reopened by itself (no USR1 needed).
        handlers.append(logging.handlers.WatchedFileHandler(os.path.join(log_dir, "cron.log")))
    if not log_dir or verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        log.addHandler(handler)
    return log


async def _serve(cron: Cron, *, ready: Callable[[], None] | None = None,
                 channel: socket.socket | None = None) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(sig, cron.stop)
    for sig in (signal.SIGHUP, signal.SIGUSR1):
        loop.add_signal_handler(sig, lambda: None)  # logs reopen by themselves
    if channel is not None:
        channel.setblocking(False)

        decoder = codec.Decoder()

        def on_channel() -> None:
            try:
                # The master sends cron nothing it acts on; only its end matters.
                gone = codec.read_frames(channel, decoder) is None
            except ProtocolError:
                gone = True
            if gone:  # the master is gone: stop rather than run orphaned
                loop.remove_reader(channel.fileno())
                cron.log.warning("lost the master: stopping")
                cron.stop()

        loop.add_reader(channel.fileno(), on_channel)
    return await cron.serve(ready)


# --- under the master -------------------------------------------------------------------------


def run(config: ServerConfig, ctx: ChildContext) -> int:
    for name in _RESET_SIGNALS:  # handlers inherited from the master must not run here
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    set_title(ctx.title or f"skitai({config.name}): cron")
    cron = for_config(config)
    if cron is None:
        return ExitCode.BOOT_ERROR
    return asyncio.run(_serve(cron, channel=ctx.channel))


def for_config(config: ServerConfig) -> Cron | None:
    """The cron service of a master's config (``config.crons``, ``[cron]`` of its file);
    None after printing why it cannot run (a boot error)."""
    base = Settings(log_path=config.logpath, verbose=config.verbose,
                    cwd=os.path.abspath(config.swd))
    try:
        conf = conffile.read(config.conf_file) if config.conf_file else None
        settings = read_settings(conf, base)
        if config.logpath:
            settings = dataclasses.replace(settings, log_path=config.logpath)
        cron = Cron(config.crons, settings, setup_logging(settings.log_path, settings.verbose))
        from skitai.cron import once

        once.attach(cron, getattr(config, "cluster", None))
        return cron
    except ConfigError as exc:
        print(f"skitai cron: {exc}", file=sys.stderr)
        return None


# --- standalone -------------------------------------------------------------------------------


def _command() -> Any:
    import click

    @click.command("cron", help="The skitai cron daemon: run [:crontab].  Without a command: "
                   "run in the foreground.")
    @click.argument("command", required=False,
                    type=click.Choice(["start", "stop", "restart", "status"]))
    @click.option("-f", "--config", "conf", metavar="FILE",
                  help="Config file with [cron] and [:crontab] (default ~/.skitai.conf when "
                       "it exists).")
    @click.option("-d", "daemonize", is_flag=True, help="Same as start.")
    @click.option("-v", "--verbose", is_flag=True, default=None, help="Also log to the console.")
    @click.option("--log-path", help="Directory of cron.log.")
    @click.option("--var-path", help="Directory of cron.pid.")
    def command(**kw: Any) -> int:
        return _control(**kw)

    return command


def cli_main(argv: list[str]) -> int:
    from skitai.daemons import standalone

    return standalone.run_click(_command(), argv, "skitai cron")


def _control(command: str | None, conf: str | None, daemonize: bool, verbose: bool | None,
             log_path: str | None, var_path: str | None) -> int:
    action = command or ("start" if daemonize else "foreground")
    try:
        path = conf or (conffile.default_path()
                        if os.path.exists(conffile.default_path()) else None)
        cfile = conffile.read(path) if path else None
        settings = read_settings(cfile, log_path=log_path and _path(log_path),
                                 var_path=var_path and _path(var_path), verbose=verbose)
        jobs: list[CronJob] = []
        if cfile is not None and action in ("start", "restart", "foreground"):
            # (stop and status must work even after a bad edit of [:crontab])
            jobs = schedule.crontab_jobs(cfile)
            build_schedules(jobs, settings.timezone)
        cluster = None
        if cfile is not None and cfile.get("cluster", "url") is not None:
            # [cluster]: the file's cluster=once lines run on one host per fire here too.
            from skitai.config import cluster as cluster_mod

            cluster = cluster_mod.with_env(
                cluster_mod.from_conf(cfile, cluster_mod.ClusterConfig()), os.environ)
    except ConfigError as exc:
        print(f"cron: {exc}", file=sys.stderr)
        return 2
    daemonized = action in ("start", "restart")
    if daemonized and not settings.log_path:
        settings = dataclasses.replace(settings, log_path=settings.var_path)
    stdio = os.path.join(settings.log_path, "cron.log") if daemonized and settings.log_path \
        else os.devnull

    if daemonized and settings.log_path:
        os.makedirs(settings.log_path, exist_ok=True)  # before the fork, for stdio_path
    # One code path for every standalone daemon: the host runs skitai.cron.daemon:main with
    # these settings (command line over [cron] over [common]) as its section.
    from skitai.config import daemonspec as daemon_mod
    from skitai.daemons import host

    # Daemonized, stderr is cron.log itself: a console handler would double every line.
    own = dataclasses.replace(settings, verbose=bool(settings.verbose and not daemonized))
    spec = daemon_mod.build("cron", None, {"settings": dataclasses.asdict(own)},
                            path or "command line", daemon_mod.installed)
    config = ServerConfig(name="cron", crons=tuple(jobs), daemons=(spec,), cluster=cluster)
    return host.standalone(action, spec, config, title=settings.title, workdir=settings.cwd,
                           pid_path=os.path.join(settings.var_path, "cron.pid"), stdio_path=stdio)


def main() -> None:
    sys.exit(cli_main(sys.argv[1:]))
