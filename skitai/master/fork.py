"""The child side of a spawn: what runs between ``os.fork()`` and the entry function.

The child starts as a copy of the master, so before it runs anything it sheds the
master's state: signal handlers and the wakeup fd (a signal in the child must not wake
the master's loop), and every descriptor only the master should hold (the pid file lock,
whose holder is how ``status`` knows the master lives; the daemon's ready pipe, whose
reader waits for EOF; the control socket; the other children's channels; the listeners
when the child is not a web worker).  Then it sets its title, imports its entry by
dotted path (the web stack is loaded here, never in the master) and leaves with
``os._exit(code)``: no atexit handlers of the master's copy, and no waiting on threads
an app left behind.
"""

from __future__ import annotations

import faulthandler
import importlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from skitai.errors import ExitCode
from skitai.ipc.context import ChildContext
from skitai.master.specs import split_entry
from skitai.proctitle import set_title

# The master's signals.  In a child: stop signals back to their defaults (the entry
# installs its own), the master-only ones ignored (a terminal hangup or a stray
# ``kill -HUP <pgid>`` must not kill a worker).
DEFAULT_IN_CHILD = (signal.SIGTERM, signal.SIGQUIT, signal.SIGCHLD, signal.SIGUSR2)
IGNORED_IN_CHILD = (signal.SIGHUP, signal.SIGUSR1, signal.SIGTTIN, signal.SIGTTOU)


def child_main(entry: str, config: Any, ctx: ChildContext, close_fds: Iterable[int],
               blocked: set[signal.Signals]) -> None:
    """Never returns."""
    code: int = ExitCode.ERROR
    master = os.getppid()
    try:
        signal.set_wakeup_fd(-1)
        for sig in DEFAULT_IN_CHILD:
            signal.signal(sig, signal.SIG_DFL)
        for sig in IGNORED_IN_CHILD:
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        _term_with_parent(master)
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        set_title(ctx.title)
        # SIGABRT from the master (heartbeat timeout) dumps every thread's stack first.
        faulthandler.enable(file=sys.stderr, all_threads=True)
        try:
            module_name, func_name = split_entry(entry)
            func = getattr(importlib.import_module(module_name), func_name)
        except Exception:  # noqa: BLE001 - the entry itself is broken: a boot error
            sys.stderr.write(f"skitai: cannot load the entry {entry} of {ctx.title}:\n")
            traceback.print_exc()
            code = ExitCode.BOOT_ERROR
        else:
            result = func(config, ctx)
            code = int(result or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 0
    except BaseException:  # noqa: BLE001 - report and leave; never return into the master's code
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
        code = ExitCode.ERROR
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def _term_with_parent(master: int) -> None:
    """SIGTERM this child when the master dies, even by SIGKILL (Linux ``PR_SET_PDEATHSIG``).
    Web workers and cron also stop when their channel reaches EOF; this covers every
    entry, including one that never reads its channel, so no child outlives its master
    and keeps the port or the spool busy."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != master:  # the master died before the prctl: nobody would tell us
        os.kill(os.getpid(), signal.SIGTERM)
