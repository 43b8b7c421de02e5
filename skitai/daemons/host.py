"""The one daemon host: ``skitai.daemons.host:run`` is the entry of every daemon's
ProcessSpec.  It finds its ``DaemonSpec`` in the frozen config by the process's role (the
daemon's name) and runs it: a Python entry in this process with a ``DaemonContext``, or
an external command as this process's child (``skitai.daemons.command``).

Under a master a reader thread owns the channel: ``reopen`` (USR1 at the master) reopens
the log files, broadcasts and replies go to the context, and EOF (the master is gone)
starts the stop.  The stop signals (TERM, INT, QUIT and the daemon's ``stop_signal``)
only set the context's stop event; the entry decides how fast it returns.  Standalone
(``skitai daemon NAME -f FILE start``) the same code runs with no channel and no shared
memory, behind ``skitai.ipc.service``'s pid file.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from skitai.config.daemonspec import DaemonSpec
from skitai.daemons.context import DaemonContext
from skitai.errors import ExitCode
from skitai.ipc import control as codec
from skitai.ipc.context import ChildContext
from skitai.proctitle import set_title

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def find(config: Any, name: str) -> DaemonSpec:
    for spec in getattr(config, "daemons", ()):
        if spec.name == name:
            return spec  # type: ignore[no-any-return]
    raise LookupError(f"no daemon {name!r} in this configuration")


def run(config: Any, ctx: ChildContext) -> int:
    """Entry under the master: ``function(config, ctx) -> exit code``."""
    try:
        spec = find(config, ctx.role)
    except LookupError as exc:
        print(f"skitai: {exc}", file=sys.stderr)
        return int(ExitCode.BOOT_ERROR)
    return run_spec(spec, config, ctx)


def run_spec(spec: DaemonSpec, config: Any, ctx: ChildContext,
             on_ready: Callable[[], None] | None = None) -> int:
    if spec.entry is None:
        from skitai.daemons import command

        return command.run(spec, config, ctx, on_ready=on_ready)
    return run_python(spec, config, ctx, on_ready=on_ready)


def run_python(spec: DaemonSpec, config: Any, ctx: ChildContext,
               on_ready: Callable[[], None] | None = None) -> int:
    assert spec.entry is not None
    dctx = DaemonContext(spec.name, config=spec.config(), server_config=config, slot=ctx.slot,
                         channel=ctx.channel, lu=ctx.lu, cell=ctx.cell)
    install_stop_signals(spec, dctx.request_stop, supervised=ctx.channel is not None)
    if ctx.channel is not None:
        start_reader(ctx.channel, dctx.on_message, lambda: dctx.request_stop("lost the master"))
    try:
        module_name, _, func_name = spec.entry.partition(":")
        func = getattr(importlib.import_module(module_name), func_name)
    except Exception:  # noqa: BLE001 - a broken entry is a boot error, said once
        sys.stderr.write(f"skitai: daemon {spec.name}: cannot load its entry {spec.entry}:\n")
        traceback.print_exc()
        return int(ExitCode.BOOT_ERROR)
    if on_ready is not None:
        on_ready()
    result = func(dctx)
    return int(result or 0)


def install_stop_signals(spec: DaemonSpec, stop: Callable[[str], None], *,
                         supervised: bool = False) -> None:
    """TERM, QUIT and the daemon's stop signal start the stop.  Ctrl-C (INT) too when it
    runs alone; under a master the terminal's INT reaches every process of the group, and
    the master, not each daemon, decides what it means."""

    def handler(signum: int, _frame: Any) -> None:
        stop(f"got {signal.Signals(signum).name}")

    own = signal.Signals(getattr(signal, "SIG" + spec.stop_signal, signal.SIGTERM))
    for sig in {*STOP_SIGNALS, own}:
        if sig == signal.SIGINT and supervised and own != signal.SIGINT:
            signal.signal(sig, signal.SIG_IGN)
        else:
            signal.signal(sig, handler)


def start_reader(channel: socket.socket, on_message: Callable[[dict[str, Any]], None],
                 on_eof: Callable[[], None], on_reopen: Callable[[], None] | None = None
                 ) -> threading.Thread:
    """A daemon thread that reads the master's frames until EOF."""
    channel.setblocking(True)

    def read() -> None:
        decoder = codec.Decoder()
        while True:
            try:
                data = channel.recv(65536)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if not data:
                on_eof()
                return
            try:
                messages = decoder.feed(data)
            except Exception:  # noqa: BLE001 - a bad frame: treat the channel as gone
                on_eof()
                return
            for message in messages:
                if message.get("op") == "reopen":
                    reopen_logs()
                    if on_reopen is not None:
                        on_reopen()
                else:
                    on_message(message)

    thread = threading.Thread(target=read, name="skitai-daemon-channel", daemon=True)
    thread.start()
    return thread


def reopen_logs() -> None:
    """USR1 at the master: reopen every log file this process writes (after logrotate)."""
    from skitai import log as logmod

    seen: set[int] = set()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", ()):
            if id(handler) not in seen:
                seen.add(id(handler))
                logmod.reopen_handler(handler)


# --- standalone -------------------------------------------------------------------------------
def standalone(command: str, spec: DaemonSpec, config: Any, *, pid_path: str,
               stdio_path: str = os.devnull, workdir: str | None = None,
               title: str | None = None) -> int:
    """``start | stop | restart | status | foreground`` of one daemon without a master,
    by pid file (what ``skitai smtpda`` and ``skitai cron`` do, and any ``[daemon:NAME]``)."""
    from skitai.ipc import daemon, service
    def runner(ready: int | None) -> int:
        set_title(title or f"skitai-{spec.name}")
        ctx = ChildContext(role=spec.name, title=title or "")
        return run_spec(spec, config, ctx, on_ready=lambda: daemon.report_ready(
            ready, f"ok {spec.name}: started (pid {os.getpid()})"))

    os.makedirs(os.path.dirname(pid_path) or ".", mode=0o700, exist_ok=True)
    return service.control(command, name=spec.name, pid_path=pid_path, run=runner,
                           workdir=workdir or os.path.dirname(pid_path), stdio_path=stdio_path,
                           stop_timeout=max(spec.stop_timeout, 1.0))

