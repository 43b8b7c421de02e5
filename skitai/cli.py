"""The command lines, all on click: ``python app.py [COMMAND]`` (``run_app``) and ``skitai``
(``main``); ``skitai smtpda`` and ``skitai cron`` are click commands of their own modules.

``python app.py``                 run in the foreground (Ctrl-C stops gracefully)
``python app.py start`` | ``-d``  run as a daemon (double fork; the pid file is held
                                  with a lock in the var dir; output to ``logpath``)
``python app.py stop`` | ``-s``   graceful stop (in-flight requests finish)
``python app.py restart`` | ``-r``  stop, then start (new config, new code)
``python app.py reload``          rolling reload of the web workers (HUP)
``python app.py status [--json]`` one line per process; exit 0 running, 1 a daemon is
                                  FATAL, 3 stopped
``python app.py scale N``         run N web workers
``python app.py daemon NAME start|stop|restart|status``  one service daemon
``-v``                            log to the console too; ``-f/--config FILE``: config
                                  file (default ``~/.skitai.conf`` when it exists)
``--name NAME``                   name the instance (its state folder and process titles);
                                  default: one instance per app file and listen address

``skitai start|stop|restart|reload|status|scale [APP.py] [-f FILE] [--json]`` runs the
same commands for an app file (``./app.py`` by default); ``skitai daemon NAME ACTION``
reaches a running master's daemon, or runs one standalone with ``-f FILE``;
``skitai smtpda ...`` / ``skitai cron ...`` are the standalone smtpda and cron.

Exit codes (LSB init style): 0 done/running, 1 failed, 2 usage or config error,
3 not running.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from skitai.errors import ConfigError

USAGE = ("usage: python app.py [start|-d | stop|-s | restart|-r | reload | status | scale N | "
         "daemon NAME start|stop|restart|status] [-v] [-f FILE] [--name NAME] [--json]")
APP_HELP = """Run this app under the skitai master, or control the one that runs.

\b
Commands (none: run in the foreground; Ctrl-C stops gracefully):
  start, -d       run as a daemon (the pid file is locked in the var dir)
  stop, -s        graceful stop (in-flight requests finish)
  restart, -r     stop, then start (new config, new code)
  reload          rolling reload of the web workers (HUP)
  status          one line per process (--json: the master's full answer);
                  exit 0 running, 1 a daemon is FATAL, 3 stopped
  scale N         run N web workers
  daemon NAME start|stop|restart|status
                  one service daemon of the running master

\b
Exit codes: 0 done/running, 1 failed, 2 usage or config error, 3 not running.
"""
COMMANDS = ("start", "stop", "restart", "reload", "status", "scale", "daemon")
SHORT = {"start_flag": "start", "stop_flag": "stop", "restart_flag": "restart"}
DAEMON_ACTIONS = ("start", "stop", "restart", "status")
NOT_RUNNING = 3


@dataclass
class AppArgs:
    command: str = "foreground"
    verbose: bool = False
    conf: str | None = None
    json: bool = False
    workers: int | None = None
    daemon: str | None = None
    action: str | None = None
    name: str | None = None
    extra: list[str] = field(default_factory=list)
    cluster: bool = False


def _app_command() -> Any:
    import click

    @click.command(name="python app.py", help=APP_HELP, add_help_option=False,
                   context_settings={"max_content_width": 100})
    @click.argument("words", nargs=-1, metavar="[COMMAND [ARGS]]")
    @click.option("-d", "start_flag", is_flag=True, help="Same as start.")
    @click.option("-s", "stop_flag", is_flag=True, help="Same as stop.")
    @click.option("-r", "restart_flag", is_flag=True, help="Same as restart.")
    @click.option("-f", "--config", "conf", metavar="FILE",
                  help="Config file (default ~/.skitai.conf when it exists).")
    @click.option("-v", "--verbose", is_flag=True, help="Also log to the console.")
    @click.option("--json", "as_json", is_flag=True, help="status: print JSON.")
    @click.option("--name", "instance", metavar="NAME",
                  help="The instance (default: one per app file and listen address).")
    @click.option("--cluster", "cluster", is_flag=True,
                  help="status: every host of the cluster (enable_cluster), and which are gone.")
    @click.option("-h", "--help", "show_help", is_flag=True, help="Show this text and exit.")
    def command(**kw: Any) -> dict[str, Any]:
        return kw

    return command


def app_help() -> str:
    import click

    cmd = _app_command()
    with click.Context(cmd, info_name="python app.py") as ctx:
        return str(cmd.get_help(ctx))


def parse_app_args(argv: list[str]) -> AppArgs:
    """Parsed by click; raises ``ValueError`` with a message for the user."""
    import click

    try:
        with _app_command().make_context("python app.py", list(argv)) as ctx:
            kw: dict[str, Any] = dict(ctx.params)
    except click.NoSuchOption as exc:
        raise ValueError(f"unknown argument {exc.option_name!r}") from None
    except click.BadOptionUsage as exc:
        raise ValueError(f"{exc.option_name} needs a file name" if exc.option_name in
                         ("-f", "--config") else exc.format_message()) from None
    except click.ClickException as exc:
        raise ValueError(exc.format_message()) from None
    args = AppArgs(verbose=kw["verbose"], conf=kw["conf"], json=kw["as_json"],
                   cluster=kw["cluster"])
    if kw["instance"] is not None:
        args.name = _instance_name(kw["instance"])
    if kw["show_help"]:
        args.command = "help"
        return args
    chosen = [SHORT[k] for k in SHORT if kw[k]]
    words = list(kw["words"])
    if words:
        if words[0] not in COMMANDS:
            raise ValueError(f"unknown argument {words[0]!r}")
        chosen.append(words.pop(0))
    if len(chosen) > 1:
        raise ValueError(f"one command at a time (got {chosen[0]!r} and {chosen[1]!r})")
    if chosen:
        args.command = chosen[0]
    if args.command == "scale":
        value = words.pop(0) if words else None
        if value is None or not value.isdigit() or int(value) < 1:
            raise ValueError("scale needs a number of workers >= 1")
        args.workers = int(value)
    elif args.command == "daemon":
        if len(words) < 2 or words[1] not in DAEMON_ACTIONS:
            raise ValueError(f"daemon needs a name and one of {'|'.join(DAEMON_ACTIONS)}")
        args.daemon, args.action = words.pop(0), words.pop(0)
    if words and words[0] in COMMANDS:
        raise ValueError(f"one command at a time (got {args.command!r} and {words[0]!r})")
    if words:
        raise ValueError(f"unknown argument {words[0]!r}")
    return args


# --- python app.py ... -------------------------------------------------------------------------
def run_app(builder: Any, argv: list[str]) -> NoReturn:
    """``skitai.run()`` ends here: freeze the config and do what the command line says."""
    sys.exit(app_main(builder, argv))


def app_main(builder: Any, argv: list[str]) -> int:
    try:
        args = parse_app_args(argv)
    except ValueError as exc:
        print(f"skitai: {exc}\n{USAGE}", file=sys.stderr)
        return 2
    if args.command == "help":
        print(app_help())
        return 0
    try:
        config = _freeze(builder, args)
        from skitai.master import paths as paths_mod

        paths = paths_mod.for_config(config)
    except ConfigError as exc:
        print(f"skitai: {exc}", file=sys.stderr)
        return 2
    if args.command == "foreground":
        return serve(config, paths)
    if args.command == "start":
        return start(config, paths)
    if args.command == "stop":
        return stop(config, paths)
    if args.command == "restart":
        stop(config, paths, quiet_if_stopped=True)
        return start(config, paths)
    if args.command == "status" and args.cluster:
        return cluster_status(config, as_json=args.json)
    if args.command == "status":
        return status(config, paths, as_json=args.json)
    if args.command == "reload":
        return _ask(config, paths, {"op": "reload"}, timeout=max(120.0, 3 * config.worker_timeout))
    if args.command == "scale":
        return _ask(config, paths, {"op": "scale", "workers": args.workers}, timeout=30.0)
    if args.command == "daemon" and args.daemon and args.action:
        return daemon(config, paths, args.daemon, args.action, as_json=args.json)
    print(USAGE, file=sys.stderr)
    return 2


def _freeze(builder: Any, args: AppArgs) -> Any:
    from skitai.config import conffile

    conf = None
    if args.conf:
        conf = conffile.read(args.conf)
    elif os.path.isfile(conffile.default_path()):
        conf = conffile.read(conffile.default_path())
    overrides: dict[str, Any] = {"verbose": True} if args.verbose else {}
    if args.name:
        overrides["instance"] = args.name
    from skitai.cron import schedule

    return builder.freeze(conf=conf, overrides=overrides, crontab=schedule.crontab_jobs)


def _instance_name(name: str) -> str:
    """``--name NAME``: an instance name (a state folder's name)."""
    if not name or name.startswith("-") or "/" in name or name in (".", ".."):
        raise ValueError("--name needs a name (letters, digits, '.', '_', '-')")
    return str(name)


def serve(config: Any, paths: Any, ready_fd: int | None = None, specs: list[Any] | None = None) -> int:
    """Run the master in this process until it stops (the daemon runs this too).
    ``specs``: the processes to run instead of those the config asks for (tests)."""
    from skitai import log as logmod
    from skitai.ipc import daemon, pidfile
    from skitai.master.arbiter import Arbiter

    paths.make()
    lock = pidfile.PidFile(paths.pidfile)
    try:
        lock.acquire()
    except pidfile.AlreadyRunning as exc:
        message = f"skitai({config.name}): {exc}"
        if ready_fd is not None:
            daemon.report_ready(ready_fd, message)
        else:
            print(message, file=sys.stderr)
        return 1
    logs = logmod.Logs(config.logpath, config.verbose)
    arbiter: Arbiter | None = None
    report = "skitai: stopped before it was ready"
    child_log = _child_log(config, paths, daemon=ready_fd is not None)
    try:
        arbiter = Arbiter(config, paths=paths, ready_fd=ready_fd, pidfile_fd=lock.fileno(),
                          specs=specs)
        return arbiter.run()
    except BaseException as exc:
        report = f"skitai: {type(exc).__name__}: {exc}"
        raise
    finally:
        lock.release()
        logs.close()
        # A daemon that did not come up tells the waiting ``start`` why only now, after
        # the lock is released: when ``start`` returns 1, ``status`` already says stopped.
        if arbiter is None or arbiter.ready_fd is not None:
            report = (arbiter.ready_report if arbiter else "") or report
            daemon.report_ready(ready_fd, _with_traceback(report, child_log))


def _child_log(config: Any, paths: Any, daemon: bool) -> tuple[str, int] | None:
    """The file a failing child's traceback will land in, and its size now (what was
    there before this start is not this start's error)."""
    from skitai.master import paths as paths_mod

    path = paths_mod.child_log(config, paths, daemon)
    if path is None:
        return None
    try:
        return path, os.path.getsize(path)
    except OSError:
        return path, 0


def _with_traceback(report: str, child_log: tuple[str, int] | None, frames: int = 3) -> str:
    """A daemon that failed to start: its reason, the tail of the last traceback it
    logged, and where the whole log is (``start`` has no log above to point at)."""
    if child_log is None or report.startswith("ok"):
        return report
    path, offset = child_log
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            text = f.read()
    except OSError:
        return report
    start = text.rfind("Traceback (most recent call last):")
    tail: list[str] = []
    if start >= 0:
        body = text[start:].splitlines()
        end = next((i for i in range(1, len(body)) if body[i] and not body[i][0].isspace()),
                   len(body) - 1)
        starts = [i for i in range(1, end) if body[i].startswith("  File ")]
        tail = body[starts[-frames] if len(starts) >= frames else 1:end + 1]
    shown = "".join(f"\n  {line}" for line in tail)
    where = "" if path in report else f"\nskitai: the whole log is {path}"
    return f"{report}{shown}{where}"


def start(config: Any, paths: Any) -> int:
    from skitai.ipc import daemon, pidfile

    pid = pidfile.running_pid(paths.pidfile)
    if pid is not None:
        print(f"skitai({config.name}): already running (pid {pid}); use restart or reload",
              file=sys.stderr)
        return 1
    paths.make()
    os.makedirs(os.path.dirname(paths.stdio), mode=0o700, exist_ok=True)
    ready = daemon.daemonize(workdir=os.path.abspath(config.swd), stdio_path=paths.stdio)
    try:
        code = serve(config, paths, ready_fd=ready)  # reports to ``ready`` whatever happens
    except BaseException:  # noqa: BLE001 - already reported; never return into the caller
        os._exit(1)
    os._exit(code)


def stop(config: Any, paths: Any, *, quiet_if_stopped: bool = False) -> int:
    """Graceful stop through the control socket (TERM when it does not answer); waits
    until the master is gone, SIGKILL after ``graceful_timeout`` + 10 s."""
    from skitai.ipc import pidfile
    from skitai.master import control

    pid = pidfile.running_pid(paths.pidfile)
    if pid is None:
        if not quiet_if_stopped:
            print(f"skitai({config.name}): not running")
        return 0
    try:
        control.call(paths.control, {"op": "stop", "graceful": True}, timeout=5.0)
    except control.ControlError:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + config.graceful_timeout + 10.0
    while time.monotonic() < deadline:
        # The lock goes a moment before the process does: wait for both, so a ``start``
        # or a check right after ``stop`` never meets the old master.
        if pidfile.running_pid(paths.pidfile) is None and _gone(pid):
            print(f"skitai({config.name}): stopped (pid {pid})")
            return 0
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
    print(f"skitai({config.name}): killed (pid {pid}): it did not stop in time", file=sys.stderr)
    return 1


def cluster_status(config: Any, *, as_json: bool = False) -> int:
    """``status --cluster``: every host's last heartbeat from Redis; exit 0 when all are
    up, 1 when some are gone or Redis cannot be reached, 3 when none is up."""
    cfg = getattr(config, "cluster", None)
    if cfg is None:
        print(f"skitai({config.name}): no cluster (skitai.enable_cluster() or [cluster] url)",
              file=sys.stderr)
        return 2
    from skitai.cluster import connect, hosts

    try:
        rows = hosts.listing(connect.sync_client(cfg), cfg.prefix)
    except connect.ERRORS as exc:
        print(f"skitai({config.name}): cluster {cfg.name}: Redis {cfg.safe_url} unreachable: {exc}",
              file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({"cluster": cfg.name, "redis": cfg.safe_url, "hosts": rows}, indent=2))
    else:
        print(f"cluster {cfg.name} at {cfg.safe_url}")
        print(hosts.render(rows))
    alive = sum(1 for r in rows if r["alive"])
    return NOT_RUNNING if not alive else (0 if alive == len(rows) else 1)


def status(config: Any, paths: Any, *, as_json: bool = False) -> int:
    from skitai.ipc import pidfile
    from skitai.master import control, report

    pid = pidfile.running_pid(paths.pidfile)
    if pid is None:
        if as_json:
            print(json.dumps({"ok": False, "state": "stopped", "name": config.name}))
        else:
            print(f"skitai({config.name}): stopped")
        return NOT_RUNNING
    try:
        data = control.call(paths.control, {"op": "status"}, timeout=10.0)
    except control.ControlError as exc:
        if as_json:
            print(json.dumps({"ok": False, "state": "unknown", "pid": pid, "error": str(exc)}))
        else:
            print(f"skitai({config.name}): running (pid {pid}), but {exc}")
        return 0
    print(json.dumps(data, indent=2) if as_json else report.format_status(data))
    fatal = data.get("master", {}).get("fatal") or []
    if fatal:  # supervisorctl's habit: a daemon that gave up is not "all running"
        print(f"skitai({config.name}): FATAL: {', '.join(fatal)}", file=sys.stderr)
        return 1
    return 0


def daemon(config: Any, paths: Any, name: str, action: str, *, as_json: bool = False) -> int:
    """``daemon NAME start|stop|restart|status`` against the running master."""
    from skitai.ipc import pidfile
    from skitai.master import control

    if action != "status":
        return _ask(config, paths, {"op": "daemon", "name": name, "action": action}, timeout=30.0)
    if pidfile.running_pid(paths.pidfile) is None:
        print(f"skitai({config.name}): not running", file=sys.stderr)
        return NOT_RUNNING
    try:
        data = control.call(paths.control, {"op": "status"}, timeout=10.0)
    except control.ControlError as exc:
        print(f"skitai({config.name}): {exc}", file=sys.stderr)
        return 1
    rows = [r for r in data.get("processes", []) if r.get("role") == name and r.get("kind") != "web"]
    if not rows:
        print(f"skitai({config.name}): no daemon {name!r}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            last = "" if row["pid"] else row.get("last_exit") or ""
            print(status_line(name, row["state"], row["pid"], last))
    states = {r["state"] for r in rows}
    return 0 if states <= {"RUNNING", "STARTING"} else 1 if "FATAL" in states else NOT_RUNNING


def status_line(name: str, state: str, pid: int | None, detail: str = "") -> str:
    from skitai.ipc import service

    return service.status_line(name, state, pid, detail)


def _ask(config: Any, paths: Any, message: dict[str, Any], timeout: float) -> int:
    from skitai.ipc import pidfile
    from skitai.master import control

    if pidfile.running_pid(paths.pidfile) is None:
        print(f"skitai({config.name}): not running", file=sys.stderr)
        return NOT_RUNNING
    try:
        answer = control.call(paths.control, message, timeout=timeout)
    except control.ControlError as exc:
        print(f"skitai({config.name}): {exc}", file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(f"skitai({config.name}): {message['op']} failed: {answer.get('error')}", file=sys.stderr)
        return 1
    detail = answer.get("message") or (f"generation {answer['generation']} serves"
                                       if "generation" in answer else "done")
    print(f"skitai({config.name}): {detail}" if message["op"] == "daemon"
          else f"skitai({config.name}): {message['op']}: {detail}")
    return 0


def _gone(pid: int) -> bool:
    """The daemon is not our child: gone when no such pid, or only a zombie is left."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --- the skitai command ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """``skitai ...`` (console script and ``python -m skitai``)."""
    build_cli().main(args=argv, prog_name="skitai")


def build_cli() -> Any:
    import click

    @click.group(help="Skitai App Engine: run and control an app.py as a supervised server.")
    @click.version_option(package_name="skitai", prog_name="skitai")
    def cli() -> None:
        pass

    def app_command(name: str, doc: str, with_json: bool = False) -> None:
        @click.argument("app", required=False, metavar="[APP.py]")
        @click.option("-f", "--config", "conf", metavar="FILE", help="Config file (default ~/.skitai.conf).")
        @click.option("-v", "--verbose", is_flag=True, help="Also log to the console.")
        @click.option("--name", "instance", metavar="NAME",
                      help="The instance (default: one per app file and listen address).")
        def command(app: str | None, conf: str | None, verbose: bool, instance: str | None,
                    **kw: Any) -> None:
            extra = ["--json"] if kw.get("as_json") else []
            extra += ["--name", instance] if instance else []
            extra += ["--cluster"] if kw.get("cluster") else []
            _exec_app(app, name, conf, verbose, extra)

        if with_json:
            command = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)
        if name == "status":
            command = click.option("--cluster", "cluster", is_flag=True,
                                   help="Every host of the cluster, and which are gone.")(command)
        cli.command(name, help=doc)(command)

    app_command("start", "Start APP.py as a daemon.")
    app_command("stop", "Stop gracefully (in-flight requests finish).")
    app_command("restart", "Stop, then start again.")
    app_command("reload", "Rolling reload: new workers first, then the old ones drain.")
    app_command("status", "One line per process; exit 0 running, 3 stopped.", with_json=True)

    @cli.command("scale", help="Run N web workers: skitai scale N [APP.py].")
    @click.argument("args", nargs=-1, metavar="N [APP.py]")
    @click.option("-f", "--config", "conf", metavar="FILE", help="Config file.")
    def scale_command(args: tuple[str, ...], conf: str | None) -> None:
        numbers = [a for a in args if a.isdigit()]
        files = [a for a in args if not a.isdigit()]
        if len(numbers) != 1 or len(files) > 1:
            raise click.UsageError("skitai scale N [APP.py]")
        _exec_app(files[0] if files else None, "scale", conf, False, [numbers[0]])

    passthrough = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}

    @cli.command("smtpda", context_settings=passthrough,
                 help="The mail delivery daemon: skitai smtpda [-f FILE] start|stop|restart|status.")
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def smtpda_command(argv: tuple[str, ...]) -> None:
        from skitai.smtpda import main as smtpda_main

        sys.exit(smtpda_main.cli_main(list(argv)))

    @cli.command("cron", context_settings=passthrough,
                 help="The cron daemon: skitai cron [-f FILE] start|stop|restart|status.")
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def cron_command(argv: tuple[str, ...]) -> None:
        from skitai.cron import main as cron_main

        sys.exit(cron_main.cli_main(list(argv)))

    @cli.command("daemon", help="One service daemon: skitai daemon NAME start|stop|restart|status "
                 "[APP.py] [-f FILE].  With APP.py (or ./app.py and no -f): the daemon of that "
                 "running master.  With -f FILE: standalone, from [daemon:NAME] (smtpda, cron: "
                 "their own sections), behind a pid file; 'foreground' runs it here.")
    @click.argument("name")
    @click.argument("action", type=click.Choice(["start", "stop", "restart", "status", "foreground"]))
    @click.argument("app", required=False, metavar="[APP.py]")
    @click.option("-f", "--config", "conf", metavar="FILE", help="Config file.")
    @click.option("-v", "--verbose", is_flag=True, help="Also log to the console.")
    @click.option("--json", "as_json", is_flag=True, help="status: print JSON (under a master).")
    def daemon_command(name: str, action: str, app: str | None, conf: str | None, verbose: bool,
                       as_json: bool) -> None:
        if app or (not conf and os.path.isfile("app.py")):
            if action == "foreground":
                raise click.UsageError("foreground runs a daemon standalone: give -f FILE")
            _exec_app(app, "daemon", conf, verbose, [name, action, *(["--json"] if as_json else [])])
        from skitai.daemons import standalone

        sys.exit(standalone.control(name, action, conf, verbose))

    return cli


def _exec_app(app: str | None, command: str, conf: str | None, verbose: bool,
              extra: list[str]) -> NoReturn:
    """The app file decides its own config (``skitai.run(...)`` in it), so every command
    runs as ``python APP.py COMMAND``: one code path, whichever way it is typed."""
    import click

    path = os.path.abspath(app or "app.py")
    if not os.path.isfile(path):
        raise click.UsageError(f"no app file {path}" + ("" if app else " (give APP.py)"))
    argv = [sys.executable, path, command, *extra]
    if conf:
        argv += ["-f", os.path.abspath(os.path.expanduser(conf))]
    if verbose:
        argv.append("-v")
    sys.stdout.flush()
    os.execv(sys.executable, argv)
