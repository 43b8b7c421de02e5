"""An external program as a daemon (uWSGI's ``attach-daemon``, supervisord's program).

This process (the host, ``skitai(<app>): <name>``) starts the command as its child with
the daemon's ``env`` and ``cwd``, in a session of its own (a Ctrl-C at the terminal
reaches the master, which decides), with ``PR_SET_PDEATHSIG`` so the program dies with
its host even if the host is SIGKILLed.  The host forwards the stop signal, reports the
program's pid to the master (whose RSS/CPU ceilings then watch the program itself), and
copies its stdout/stderr into ``<logpath>/<name>.log`` (or ``stdout_log``/``stderr_log``)
with size rotation; ``reopen`` (USR1 at the master) reopens the files.  Without a log
folder the output goes to the host's own stdout/stderr (the master's console or
stderr.log).  The host exits with the program's status: a program killed by a signal
makes the host die by the same signal, so ``status`` says ``killed by SIGKILL``.
"""

from __future__ import annotations

import contextlib
import logging.handlers
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from skitai.config.daemonspec import DaemonSpec
from skitai.errors import ExitCode
from skitai.ipc import control as codec
from skitai.ipc.context import ChildContext

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR2)


class RotatingLog:
    """Raw program output into a file rotated at ``max_bytes`` (``backups`` kept)."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", errors="replace")
        self.handler.terminator = ""
        self.handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, data: bytes) -> None:
        record = logging.LogRecord("daemon", logging.INFO, "", 0,
                                   data.decode("utf-8", "replace"), None, None)
        self.handler.emit(record)

    def reopen(self) -> None:
        from skitai import log as logmod

        with contextlib.suppress(OSError):
            logmod.reopen_handler(self.handler)

    def close(self) -> None:
        self.handler.close()


class StreamSink:
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.stream.write(data)
            self.stream.flush()

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


def _sinks(spec: DaemonSpec, config: Any) -> tuple[Any, Any]:
    logpath = getattr(config, "logpath", None)
    out_path = spec.stdout_log or (os.path.join(os.path.expanduser(logpath), f"{spec.name}.log")
                                   if logpath else None)
    if out_path is None:
        return StreamSink(sys.stdout.buffer), StreamSink(sys.stderr.buffer)
    out = RotatingLog(out_path, spec.log_max_bytes, spec.log_backups)
    if spec.stderr_log and spec.stderr_log != out_path:
        return out, RotatingLog(spec.stderr_log, spec.log_max_bytes, spec.log_backups)
    return out, out


def _die_with_parent() -> None:
    """In the program, before exec: SIGKILL when the host dies (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)


def run(spec: DaemonSpec, config: Any, ctx: ChildContext,
        on_ready: Callable[[], None] | None = None) -> int:
    env = dict(os.environ)
    env.update(dict(spec.env))
    cwd = spec.cwd or os.path.abspath(getattr(config, "swd", ".") or ".")
    out, err = _sinks(spec, config)
    # Signals that arrive before the program exists are remembered, then forwarded.
    pending: list[int] = []
    own = signal.Signals(getattr(signal, "SIG" + spec.stop_signal, signal.SIGTERM))
    for sig in {*FORWARDED, own}:
        signal.signal(sig, lambda s, _f: pending.append(s))
    try:
        proc = subprocess.Popen(list(spec.command), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=_die_with_parent)
    except OSError as exc:
        print(f"skitai: daemon {spec.name}: cannot run {spec.command[0]!r}: {exc.strerror or exc}",
              file=sys.stderr, flush=True)
        return int(ExitCode.BOOT_ERROR)
    if ctx.channel is not None:
        with contextlib.suppress(OSError):
            ctx.channel.sendall(codec.encode({"op": "status", "pid": proc.pid,
                                              "info": f"program pid {proc.pid}"}))
    if on_ready is not None:
        on_ready()
    status = _pump(proc, out, err, ctx, pending)
    for sink in {id(out): out, id(err): err}.values():
        sink.close()
    if status < 0:  # killed by a signal: die the same way, so the master says so
        with contextlib.suppress(OSError, ValueError):  # (SIGKILL has no handler to reset)
            signal.signal(-status, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {-status})
        os.kill(os.getpid(), -status)
        time.sleep(1.0)
        return 128 - status
    return status


def _pump(proc: subprocess.Popen[bytes], out: Any, err: Any, ctx: ChildContext,
          pending: list[int]) -> int:
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    decoder = codec.Decoder()
    if ctx.channel is not None:
        ctx.channel.setblocking(False)
        sel.register(ctx.channel, selectors.EVENT_READ, None)
    open_pipes = 2
    while open_pipes or proc.poll() is None:
        while pending:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(pending.pop(0))
        for key, _mask in sel.select(0.5 if open_pipes else 0.1):
            if key.data is None:  # the master's channel
                try:
                    data = ctx.channel.recv(65536) if ctx.channel is not None else b""
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:  # the master is gone: stop the program
                    sel.unregister(key.fileobj)
                    pending.append(signal.SIGTERM)
                    continue
                with contextlib.suppress(Exception):
                    for message in decoder.feed(data):
                        if message.get("op") == "reopen":
                            out.reopen()
                            err.reopen()
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_pipes -= 1
                continue
            key.data.write(chunk)
    sel.close()
    return proc.wait()
