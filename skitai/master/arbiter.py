"""The master: one thread, one ``selectors`` loop, no asyncio (gunicorn's arbiter shape).

The loop waits on the signal wakeup fd (``signal.set_wakeup_fd``: the C handler writes
the signal number; the Python handler does nothing at all), the control socket and its
connections, and one unix socketpair per child.  After every wakeup it reaps children
(``waitpid(-1, WNOHANG)`` until none is left: simultaneous deaths coalesce into one
SIGCHLD) and runs ``_tick``, which does everything time-driven: respawns after backoff,
heartbeat timeouts, kill escalation, resource checks, reload progress, the watchdog.

Reload (HUP) and recycle are the same move: a successor is spawned for each process to
replace, the old one keeps serving until its successor says "ready", and only then gets
a graceful stop.  The listeners stay open in the master the whole time, so a connection
is never refused; if a successor cannot start, the old process stays and the failure is
reported (status, log, the ``reload`` reply).

Boot errors: a child that exits with ``APP_LOAD_ERROR`` or ``BOOT_ERROR`` before the
server ever became ready stops the master with that code and the child's reason (no
crash loop).  Later, the same exit is a crash with backoff, then FATAL.

This module is imported by the CLI and by every test of the master; it must not import
asyncio, threading users or the web stack (``tests/unit/master/test_imports.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from skitai import log as logmod
from skitai.config.model import ServerConfig
from skitai.errors import ExitCode, HaltServer, InvalidTransition
from skitai.ipc import control as codec
from skitai.ipc import daemon as daemon_mod
from skitai.ipc.context import ChildContext
from skitai.ipc.lu import LuMemory
from skitai.master import commands, fork, listeners, monitor, report
from skitai.master import paths as paths_mod
from skitai.master.control import ControlServer
from skitai.master.paths import Paths
from skitai.master.process import (
    BACKOFF_FIRST,
    MAX_CRASHES,
    MIN_UPTIME,
    Input,
    Process,
    State,
    describe_exit,
)
from skitai.master.specs import DAEMON_ENTRY, ProcessSpec, build_specs
from skitai.master.systemd import Notifier
from skitai.proctitle import set_title

log = logging.getLogger("skitai.master")

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1,
                   signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD)
TICK = 0.5
FAST_STOP_TIMEOUT = 5.0
ABORT_GRACE = 5.0  # seconds between SIGABRT and SIGKILL for a silent worker
MAX_OUTBUF = 4 << 20
BOOT_BOUNDARY = (ExitCode.APP_LOAD_ERROR, ExitCode.BOOT_ERROR)


@dataclass
class Reload:
    generation: int
    news: list[Process]
    olds: list[Process]
    deadline: float
    waiters: list[commands.Reply] = field(default_factory=list)


class Arbiter:
    def __init__(self, config: ServerConfig, *, paths: Paths | None = None,
                 specs: list[ProcessSpec] | None = None, ready_fd: int | None = None,
                 pidfile_fd: int | None = None, control: bool = True) -> None:
        self.config = config
        self.paths = paths
        self.specs = specs if specs is not None else build_specs(config)
        self.ready_fd = ready_fd
        self.pidfile_fd = pidfile_fd
        self.use_control = control and paths is not None
        self.processes: list[Process] = []
        self.by_pid: dict[int, Process] = {}
        self.targets: dict[str, int] = {s.name: s.count for s in self.specs}
        self.generation = 0
        self.reloading: Reload | None = None
        self.reload_again = False  # a worker asked for a reload during one (request_reload)
        self.last_reload = ""
        self.stopping: str | None = None  # None | "graceful" | "fast"
        self.stop_deadline = 0.0
        self.served = False  # the first generation became ready once
        self.exit_status = 0
        self.halt_reason = ""
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.listeners: list[socket.socket] = []
        self.adopted = False
        self.notifier = Notifier()
        self.monitor = monitor.Monitor(config.critical_point, config.max_worker_rss)
        # One monitor per daemon with ceilings of its own (max_rss, max_cpu).
        self.daemon_monitors = {s.name: monitor.Monitor(s.critical_point, s.max_rss)
                                for s in self.specs if not s.web and (s.max_rss or s.critical_point)}
        self.stop_wave: int | None = None  # stopping: the stop_rank being stopped now
        self.selector: selectors.BaseSelector | None = None
        self.control: ControlServer | None = None
        self.lu: LuMemory | None = None
        # pid -> {"@alias": [member loads]} reported by workers (skitai.upstream).
        self.upstream_loads: dict[int, dict[str, Any]] = {}
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._max_requests = config.max_requests
        # Why the daemon's start failed, for the waiting ``start`` (see _report_failure).
        self.ready_report = ""

    # --- set up and run ---------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped; the exit status (0, or the reason a halt gave)."""
        set_title(f"skitai({self.config.name}): master")
        try:
            self._setup()
        except HaltServer as exc:
            self.exit_status = exc.exit_status  # the last log line says what the process exits with
            self._report_failure(exc.reason)
            self._cleanup()
            return self.exit_status
        try:
            self._loop()
        except HaltServer as exc:
            self._halt(exc)
            with contextlib.suppress(HaltServer):
                self._loop()
        finally:
            self._cleanup()
        return self.exit_status

    def _setup(self) -> None:
        self.listeners = listeners.adopt_systemd()
        self.adopted = bool(self.listeners)
        if not self.listeners:
            try:
                self.listeners = listeners.bind(self.config)
            except OSError as exc:
                raise HaltServer(str(exc.strerror or exc), ExitCode.BOOT_ERROR) from None
        web = sum(s.count for s in self.specs if s.web)
        others = sum(s.count for s in self.specs if not s.web)
        # Room for scaling up and for a full second generation during a reload.
        self.lu = LuMemory(max(16, 4 * web + 2 * others + 4), self.config.lu_keys)
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w):
            s.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._on_wakeup)
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, _noop)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        if self.use_control and self.paths is not None:
            try:
                self.control = ControlServer(self.paths.control, self.selector, self._command)
            except OSError as exc:
                raise HaltServer(f"cannot open the control socket {self.paths.control}: "
                                 f"{exc.strerror or exc}", ExitCode.BOOT_ERROR) from None
        for where in map(listeners.describe, self.listeners):
            log.info("master (pid %d) listening on %s", os.getpid(), where)
        self.notifier.status("starting workers")
        for spec in self.specs:
            for slot in range(spec.count):
                proc = Process(spec=spec, slot=slot, generation=self.generation)
                self.processes.append(proc)
                if self._deps_ready(spec):  # else _tick starts it once they run
                    self._spawn(proc)

    def _deps_ready(self, spec: ProcessSpec) -> bool:
        """``after=``: every process of the named daemons RUNNING (or given up on)."""
        if not spec.after:
            return True
        settled = (State.RUNNING, State.FATAL)
        return all(p.state in settled or p.done or p.paused
                   for p in self.processes if p.spec.name in spec.after and p.wanted)

    def _loop(self) -> None:
        assert self.selector is not None
        while True:
            timeout = self._timeout()
            for key, mask in self.selector.select(timeout):
                key.data(mask)
            self._reap()
            now = time.monotonic()
            self._tick(now)
            if self.stopping and not any(p.pid is not None for p in self.processes):
                return

    def _timeout(self) -> float:
        return 0.05 if self.stopping else TICK

    # --- signals and commands ------------------------------------------------------------------
    def _on_wakeup(self, _mask: int) -> None:
        assert self._wake_r is not None
        try:
            data = self._wake_r.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        for signum in data:
            if signum == signal.SIGCHLD:
                continue  # reaping runs after every wakeup anyway
            if signum == signal.SIGINT:
                self.interrupt()
                continue
            message = commands.SIGNAL_COMMANDS.get(signum)
            if message is not None:
                log.info("got %s", signal.Signals(signum).name)
                self._command(dict(message), commands.ignore)

    def _command(self, message: dict[str, Any], reply: commands.Reply) -> None:
        try:
            commands.dispatch(self, message, reply)
        except HaltServer:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad command must not kill the master
            log.exception("command %r failed", message.get("op"))
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    # --- spawning -------------------------------------------------------------------------------
    def _spawn(self, proc: Process) -> None:
        assert self.lu is not None and self.selector is not None
        cell = self.lu.claim(proc.spec.role, proc.slot, proc.generation)
        if cell < 0:
            log.error("no free shared-memory cell for %s; retrying later", proc.name)
            proc.next_spawn = time.monotonic() + 1.0
            return
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        title = proc.spec.title(self.config.name, proc.slot)
        ctx = ChildContext(role=proc.spec.role, slot=proc.slot, generation=proc.generation,
                           listeners=list(self.listeners) if proc.spec.web else [],
                           channel=child, lu=self.lu, title=title, cell=cell)
        close = self._master_fds(keep_listeners=proc.spec.web) + [parent.fileno()]
        blocked = set(HANDLED_SIGNALS)
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            pid = os.fork()
            if pid == 0:
                fork.child_main(proc.spec.entry, self.config, ctx, close, blocked)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        child.close()
        parent.setblocking(False)
        now = time.monotonic()
        self.lu.cell(cell).pid = pid
        proc.pid, proc.cell, proc.channel = pid, cell, parent
        proc.decoder = codec.Decoder()
        proc.outbuf.clear()
        proc.started_at, proc.started_wall = now, time.time()
        proc.abort_sent = 0.0
        proc.fire(Input.SPAWN)
        self.by_pid[pid] = proc
        self.selector.register(parent, selectors.EVENT_READ, lambda mask, p=proc: self._on_channel(p, mask))
        log.info("spawned %s (pid %d, generation %d)", proc.name, pid, proc.generation)

    def _master_fds(self, keep_listeners: bool) -> list[int]:
        """Descriptors a child must not keep (see fork.py for why each matters)."""
        fds: list[int] = []
        if self.selector is not None and hasattr(self.selector, "fileno"):
            fds.append(self.selector.fileno())
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                fds.append(s.fileno())
        if self.control is not None:
            fds.extend(self.control.fds())
        fds.extend(p.channel.fileno() for p in self.processes if p.channel is not None)
        for fd in (self.pidfile_fd, self.ready_fd, self.notifier.fileno()):
            if fd is not None and fd >= 0:
                fds.append(fd)
        if not keep_listeners:
            fds.extend(s.fileno() for s in self.listeners)
        return fds

    # --- children's messages -------------------------------------------------------------------
    def _on_channel(self, proc: Process, mask: int) -> None:
        if proc.channel is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(proc)
        if not mask & selectors.EVENT_READ:
            return
        try:
            messages = codec.read_frames(proc.channel, proc.decoder)
        except Exception as exc:  # noqa: BLE001 - a broken child must not break the master
            log.warning("%s (pid %s) sent a bad frame: %s; closing its channel", proc.name, proc.pid, exc)
            self._close_channel(proc)
            return
        if messages is None:
            self._close_channel(proc)
            return
        for message in messages:
            self._on_message(proc, message)

    def _on_message(self, proc: Process, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "ready":
            self._ready(proc)
        elif op == "broadcast":
            frame = codec.encode({"op": "broadcast", "event": message.get("event"),
                                  "args": message.get("args", []),
                                  "kwargs": message.get("kwargs", {})})
            for other in self.processes:
                if other.live and (other.spec.web or other.spec.entry == DAEMON_ENTRY):
                    self._send(other, frame)
        elif op == "request":
            cmd = message.get("cmd")
            log.info("%s (pid %s) asks the master to %s", proc.name, proc.pid, cmd)
            if cmd == "reload":
                self.request_reload()
            elif cmd == "stop":
                self.stop(graceful=True)
        elif op == "recycle":
            self.recycle(proc, str(message.get("reason") or "the worker asked"))
        elif op == "status":  # a daemon's status line (ctx.status) or its program's pid
            if "info" in message:
                proc.info = message["info"]
            if isinstance(message.get("pid"), int):
                proc.program_pid = message["pid"]
        elif op == "control":  # a daemon asks the master a command (ctx.ask)
            rid = message.get("id")

            def answer(reply: dict[str, Any], p: Process = proc) -> None:
                self._send(p, codec.encode({"op": "reply", "id": rid, "answer": reply}))

            inner = message.get("message")
            self._command(inner if isinstance(inner, dict) else {}, answer)
        elif op == "upstream":  # a worker's reverse-proxy member loads, for status
            self.upstream_loads[proc.pid or 0] = message.get("loads") or {}
        else:
            log.warning("%s sent an unknown message %r", proc.name, op)

    def _send(self, proc: Process, frame: bytes) -> None:
        if proc.channel is None:
            return
        if len(proc.outbuf) + len(frame) > MAX_OUTBUF:
            log.warning("%s (pid %s) is not reading its channel; dropping a message", proc.name, proc.pid)
            return
        proc.outbuf += frame
        self._flush(proc)

    def _flush(self, proc: Process) -> None:
        if proc.channel is None or self.selector is None:
            return
        try:
            sent = proc.channel.send(proc.outbuf) if proc.outbuf else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            # The child closed its end (it is exiting).  What it sent before is still to be
            # read, to EOF, by _on_channel or _drain_channel, which close the channel: a
            # failed write must not close it under them (that stopped the master).
            proc.outbuf.clear()
            sent = 0
        del proc.outbuf[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if proc.outbuf else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(proc.channel, events, self.selector.get_key(proc.channel).data)

    def _close_channel(self, proc: Process) -> None:
        if proc.channel is None:
            return
        if self.selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(proc.channel)
        proc.channel.close()
        proc.channel = None
        proc.outbuf.clear()

    def _ready(self, proc: Process) -> None:
        if proc.state == State.STARTING:
            proc.fire(Input.READY)
            proc.ready_at = time.monotonic()
            proc.ever_ready = True
            log.info("%s (pid %s) is ready", proc.name, proc.pid)

    # --- reaping -----------------------------------------------------------------------------
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.by_pid.pop(pid, None)
            if proc is not None:
                self._exited(proc, status)

    def _exited(self, proc: Process, status: int) -> None:
        assert self.lu is not None
        now = time.monotonic()
        reason = describe_exit(status)
        code = os.waitstatus_to_exitcode(status)
        uptime = proc.uptime(now)
        who = f"{proc.name} (pid {proc.pid}, generation {proc.generation})"
        self._drain_channel(proc)
        self._close_channel(proc)
        self.lu.release(proc.cell)
        self.monitor.forget(proc.pid or 0)
        if proc.spec.name in self.daemon_monitors:
            self.daemon_monitors[proc.spec.name].forget(proc.program_pid or proc.pid or 0)
        proc.pid, proc.cell, proc.last_exit, proc.program_pid = None, -1, reason, None
        if proc.state == State.STOPPING or not proc.wanted or self.stopping:
            log.info("%s stopped (%s)", who, reason)
            if proc.state in (State.STARTING, State.RUNNING):
                self._fire(proc, Input.STOP)
            if proc.state == State.STOPPING:
                self._fire(proc, Input.EXIT)
            if proc.wanted and not self.stopping and not proc.paused:  # keep=True: a restart
                proc.restarts += 1
                proc.next_spawn = now
            self._forget(proc)
            return
        if not proc.spec.web:
            self._daemon_exited(proc, code, reason, uptime, who, now)
            return
        boot_error = code in BOOT_BOUNDARY
        if boot_error and not self.served and proc.generation == 0 and not proc.ever_ready:
            self._fire(proc, Input.FAIL)
            raise HaltServer(f"{proc.name} could not start ({reason}): "
                             f"{self._boot_hint(code)}; stopping the server", code)
        died_young = proc.state == State.STARTING or uptime < MIN_UPTIME
        if died_young or boot_error:
            proc.crashes += 1
            if proc.crashes >= MAX_CRASHES:
                self._fire(proc, Input.FAIL)
                log.error("%s failed %d times in a row (%s): giving up (FATAL)", who,
                          proc.crashes, reason)
                self._check_all_failed()
                return
            self._fire(proc, Input.CRASH)
            proc.next_spawn = now + proc.backoff_delay()
            proc.restarts += 1
            log.warning("%s exited (%s) after %.1fs; restarting in %.1fs", who, reason,
                        uptime, proc.backoff_delay())
            return
        proc.crashes = 0
        self._fire(proc, Input.EXIT)
        proc.restarts += 1
        log.warning("%s exited (%s) after %.0fs; restarting", who, reason, uptime)
        proc.next_spawn = now

    def _boot_hint(self, code: int) -> str:
        where = paths_mod.child_log(self.config, self.paths, daemon=self.ready_fd is not None)
        where = where or "the log above"
        if code == ExitCode.APP_LOAD_ERROR:
            return f"an app failed to import or mount (its traceback is in {where})"
        return f"it could not boot (see {where})"

    def _daemon_exited(self, proc: Process, code: int, reason: str, uptime: float, who: str,
                       now: float) -> None:
        """supervisord's rules: an exit before ``startsecs`` is a failed start (BACKOFF,
        FATAL after ``startretries`` of them in a row); a later exit follows ``restart``."""
        if proc.state == State.STARTING:
            proc.crashes += 1
            if proc.crashes > proc.spec.startretries:
                self._fire(proc, Input.FAIL)
                log.error("%s could not start %d times in a row (%s): giving up (FATAL)",
                          who, proc.crashes, reason)
                return
            self._fire(proc, Input.CRASH)
            proc.next_spawn = now + proc.backoff_delay()
            proc.restarts += 1
            log.warning("%s exited (%s) %.1fs after its start; restarting in %.1fs (retry %d "
                        "of %d)", who, reason, uptime, proc.backoff_delay(), proc.crashes,
                        proc.spec.startretries)
            return
        proc.crashes = 0
        policy = proc.spec.restart
        if policy == "never" or (policy == "on-failure" and code == 0):
            self._fire(proc, Input.EXIT)
            proc.done = True
            log.info("%s exited (%s); restart = %s: not restarted", who, reason, policy)
            return
        young = uptime < MIN_UPTIME
        self._fire(proc, Input.CRASH if young else Input.EXIT)
        proc.restarts += 1
        proc.next_spawn = now + (BACKOFF_FIRST if young else 0.0)
        log.warning("%s exited (%s) after %.1fs; restarting", who, reason, uptime)

    def _drain_channel(self, proc: Process) -> None:
        """Messages a child sent just before it exited (a last broadcast) still count.
        They are relayed only once its channel is read to the end and closed: a relay
        reaches every live web worker, this dead one too, and that failed send closed the
        channel under this loop (an AttributeError that stopped the master, and reset
        the control connections it had not answered yet)."""
        channel = proc.channel
        if channel is None:
            return
        messages = codec.drain_frames(channel, proc.decoder)
        self._close_channel(proc)
        for message in messages:
            if message.get("op") == "broadcast":
                self._on_message(proc, message)

    def _fire(self, proc: Process, event: Input) -> None:
        try:
            proc.fire(event)
        except InvalidTransition as exc:
            log.error("%s", exc)

    def _forget(self, proc: Process) -> None:
        if not proc.wanted and not proc.live and proc in self.processes:
            self.processes.remove(proc)

    def _check_all_failed(self) -> None:
        web = [p for p in self.processes if p.spec.web and p.wanted]
        if web and all(p.state == State.FATAL for p in web):
            raise HaltServer("every web worker failed to stay up; stopping the server",
                             ExitCode.ERROR)

    # --- time-driven work --------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        if self.stopping:
            self._next_stop_wave()
            for proc in self.processes:
                if (proc.pid is not None and proc.state == State.STOPPING and proc.stop_deadline
                        and now >= proc.stop_deadline):
                    log.warning("%s (pid %d) did not stop within its stop timeout: SIGKILL",
                                proc.name, proc.pid)
                    _kill(proc.pid, signal.SIGKILL)
                    proc.stop_deadline = now + 5.0
            if now >= self.stop_deadline:
                for proc in self.processes:
                    if proc.pid is not None:
                        log.warning("%s (pid %d) did not stop in time: SIGKILL", proc.name, proc.pid)
                        _kill(proc.pid, signal.SIGKILL)
                self.stop_deadline = now + 5.0
            return
        assert self.lu is not None
        for proc in list(self.processes):
            if proc.pid is None:
                if (proc.wanted and not proc.paused and not proc.done
                        and proc.state in (State.EXITED, State.BACKOFF) and now >= proc.next_spawn
                        and self._deps_ready(proc.spec)):
                    self._spawn(proc)
                continue
            if proc.state == State.STOPPING:
                if proc.stop_deadline and now >= proc.stop_deadline:
                    log.warning("%s (pid %d) did not stop within its grace time: SIGKILL",
                                proc.name, proc.pid)
                    _kill(proc.pid, signal.SIGKILL)
                    proc.stop_deadline = now + 5.0
                continue
            if not proc.spec.web:
                if proc.state == State.STARTING and proc.uptime(now) >= proc.spec.startsecs:
                    self._ready(proc)
                elif proc.spec.heartbeat and proc.state == State.RUNNING:
                    self._check_heartbeat(proc, now)
            else:
                self._check_heartbeat(proc, now)
            if proc.state == State.RUNNING and proc.crashes and proc.uptime(now) >= MIN_UPTIME:
                proc.crashes = 0
        self._check_successors()
        self._check_reload(now)
        self._check_resources(now)
        self._check_served()
        if self.notifier.watchdog_due(now):
            self.notifier.watchdog(now)

    def _check_heartbeat(self, proc: Process, now: float) -> None:
        assert self.lu is not None and proc.pid is not None
        cell = self.lu.cell(proc.cell)
        if proc.state == State.STARTING:
            limit = max(60.0, self.config.worker_timeout)
            silent = now - proc.started_at
        else:
            limit = proc.spec.heartbeat if not proc.spec.web else self.config.worker_timeout
            silent = now - max(cell.beat, proc.ready_at)
        if silent <= limit:
            return
        if not proc.abort_sent:
            text, since = cell.request()
            running = (f"; it was running {text!r} for {now - since:.1f}s" if text and since
                       else "; it was not running a request")
            what = "did not become ready" if proc.state == State.STARTING else "is silent"
            log.error("%s (pid %d) %s for %.1fs (%s %gs): SIGABRT%s", proc.name, proc.pid, what,
                      silent, "worker_timeout" if proc.spec.web else "heartbeat", limit, running)
            proc.abort_sent = now
            _kill(proc.pid, signal.SIGABRT)
        elif now - proc.abort_sent >= ABORT_GRACE:
            log.error("%s (pid %d) survived SIGABRT: SIGKILL", proc.name, proc.pid)
            _kill(proc.pid, signal.SIGKILL)
            proc.abort_sent = now

    def _check_resources(self, now: float) -> None:
        running = {p.pid: p for p in self.processes
                   if p.spec.web and p.state == State.RUNNING and p.pid and p.wanted and p.successor is None}
        for pid, reason in self.monitor.check(list(running), now):
            proc = running.get(pid)
            if proc is not None:
                self.recycle(proc, reason)
        for name, mon in self.daemon_monitors.items():
            # An external command is watched itself, not its host.
            watched = {(p.program_pid or p.pid): p for p in self.processes
                       if p.spec.name == name and p.state == State.RUNNING and p.pid}
            for pid, reason in mon.check([k for k in watched if k], now):
                if pid in watched:
                    self.recycle(watched[pid], reason)

    def _check_successors(self) -> None:
        pending = self.reloading.olds if self.reloading is not None else []
        for proc in list(self.processes):
            succ = proc.successor
            if succ is None or proc in pending:  # a reload retires its olds all at once
                continue
            if succ.state == State.RUNNING:
                proc.successor = None
                self._retire(proc, graceful=True)
            elif not succ.wanted or succ.state == State.FATAL:
                proc.successor = None

    def _check_reload(self, now: float) -> None:
        r = self.reloading
        if r is None:
            return
        failed = [p for p in r.news if p.state in (State.BACKOFF, State.FATAL, State.EXITED)]
        if failed or now >= r.deadline:
            if failed:
                why = (f"{failed[0].name} of generation {r.generation} could not start "
                       f"({failed[0].last_exit})")
            else:
                why = f"generation {r.generation} was not ready in time"
            self.last_reload = f"failed at {_clock()}: {why}; the previous workers keep serving"
            log.error("reload %s", self.last_reload)
            for p in r.news:
                self._retire(p, graceful=False)
            for p in r.olds:
                p.successor = None
            self.reloading = None
            self.notifier.ready("reload failed: " + why)
            for waiter in r.waiters:
                waiter({"ok": False, "error": "reload failed: " + why})
            self._reload_again()
            return
        if all(p.state == State.RUNNING for p in r.news):
            self.last_reload = f"ok at {_clock()}: generation {r.generation}"
            log.info("reload: generation %d serves; draining the previous one", r.generation)
            self.reloading = None
            for p in r.olds:
                p.successor = None
                self._retire(p, graceful=True)
            self.notifier.ready(self._status_line())
            for waiter in r.waiters:
                waiter({"ok": True, "generation": r.generation})
            self._reload_again()

    def _check_served(self) -> None:
        if self.served:
            return
        web = [p for p in self.processes if p.spec.web and p.wanted]
        if web and not all(p.state == State.RUNNING for p in web):
            return
        others = [p for p in self.processes if not p.spec.web and p.wanted]
        if any(p.state == State.STARTING for p in others):
            return
        self.served = True
        urls = listeners.urls(self.listeners, self.config)
        count = len(web)
        line = (f"skitai: serving on {urls[0] if urls else '(no listener)'} "
                f"(master pid {os.getpid()}, {count} worker{'s' if count != 1 else ''})")
        for extra in urls[1:]:
            line += f"\nskitai: also serving on {extra}"
        print(line, file=sys.stderr, flush=True)
        log.info("serving: %s", ", ".join(urls))
        self.notifier.ready(self._status_line())
        if self.ready_fd is not None:
            fd, self.ready_fd = self.ready_fd, None
            daemon_mod.report_ready(fd, f"ok {line.splitlines()[0]}")

    # --- commands (commands.Master) ------------------------------------------------------------
    def reload(self, reply: commands.Reply | None = None) -> None:
        reply = reply or commands.ignore
        if self.stopping:
            reply({"ok": False, "error": "the server is stopping"})
            return
        if self.reloading is not None:
            self.reloading.waiters.append(reply)
            return
        olds = [p for p in self.processes if p.spec.web and p.wanted]
        self.generation += 1
        log.info("reload: starting generation %d (%d workers)", self.generation, len(olds))
        self.notifier.reloading()
        news = []
        for old in olds:
            if old.successor is not None:  # a recycle in flight: the reload replaces it
                old.successor.wanted = False
                self._retire(old.successor, graceful=True)
            new = Process(spec=old.spec, slot=old.slot, generation=self.generation)
            old.successor = new
            self.processes.append(new)
            self._spawn(new)
            news.append(new)
        deadline = time.monotonic() + max(60.0, 2 * self.config.worker_timeout)
        self.reloading = Reload(self.generation, news, olds, deadline, [reply])

    def request_reload(self) -> None:
        """A reload a worker asks for (``was.restart()``, the reloader).  One asked during a
        reload runs after it: it may be about code the new generation imported too early."""
        if self.reloading is not None:
            self.reload_again = True
            return
        self.reload()

    def _reload_again(self) -> None:
        if self.reload_again and not self.stopping:
            self.reload_again = False
            self.reload()

    def recycle(self, proc: Process, reason: str) -> None:
        """Replace one worker gracefully: successor first, then drain the old one."""
        if self.stopping or self.reloading is not None or proc.successor is not None or not proc.wanted:
            return
        if not proc.spec.web:
            log.info("restarting %s (pid %s): %s", proc.name, proc.pid, reason)
            self._retire(proc, graceful=True, keep=True)
            return
        assert self.lu is not None
        text, since = (self.lu.cell(proc.cell).request() if proc.cell >= 0 else ("", 0.0))
        running = f"; it is running {text!r}" if text else ""
        log.warning("recycling %s (pid %s): %s%s", proc.name, proc.pid, reason, running)
        new = Process(spec=proc.spec, slot=proc.slot, generation=proc.generation)
        proc.successor = new
        self.processes.append(new)
        self._spawn(new)

    def interrupt(self) -> None:
        """Ctrl-C (SIGINT): the first stops gracefully, a second one at once.  Said on the
        console, where whoever pressed it is looking."""
        if self.stopping:
            log.info("got SIGINT again: fast stop")
            if self.stopping != "fast":
                print("skitai: second Ctrl-C: stopping now (in-flight requests are cut)",
                      file=sys.stderr, flush=True)
            self.stop(graceful=False)
            return
        log.info("got SIGINT: graceful stop")
        print(f"skitai: Ctrl-C: stopping gracefully (in-flight requests may take up to "
              f"{self.config.graceful_timeout:g}s); press Ctrl-C again to stop at once",
              file=sys.stderr, flush=True)
        self.stop(graceful=True)

    def stop(self, graceful: bool = True) -> None:
        if self.stopping == "fast" or (self.stopping and graceful):
            return
        self.stopping = "graceful" if graceful else "fast"
        log.info("%s stop: %d processes", self.stopping, sum(1 for p in self.processes if p.live))
        self.notifier.stopping()
        if self.reloading is not None:
            for waiter in self.reloading.waiters:
                waiter({"ok": False, "error": "the server is stopping"})
            self.reloading = None
        timeout = self.config.graceful_timeout + 2.0 if graceful else FAST_STOP_TIMEOUT
        if graceful:  # waves: each may take its own stop timeout
            timeout += sum(max((s.stop_timeout for s in self.specs if s.stop_rank == r), default=0)
                           for r in {s.stop_rank for s in self.specs if not s.web})
        self.stop_deadline = time.monotonic() + timeout
        if not graceful:
            for proc in list(self.processes):
                self._retire(proc, graceful=False)
            return
        self.stop_wave = max((s.stop_rank for s in self.specs), default=0) + 1
        self._next_stop_wave()

    def _next_stop_wave(self) -> None:
        """Stop in reverse start order: web workers first, then each ``after=`` rank down
        to the daemons that waited for none, each wave once the one before has exited."""
        if self.stop_wave is None:
            return
        if any(p.pid is not None and p.spec.stop_rank >= self.stop_wave for p in self.processes):
            return
        ranks = [r for r in {p.spec.stop_rank for p in self.processes} if r < self.stop_wave]
        if not ranks:
            self.stop_wave = None
            for proc in list(self.processes):
                self._retire(proc, graceful=True)
            return
        self.stop_wave = max(ranks)
        for proc in list(self.processes):
            if proc.spec.stop_rank == self.stop_wave:
                self._retire(proc, graceful=True)

    def scale(self, *, workers: int | None = None, delta: int = 0) -> tuple[bool, str, int]:
        spec = next((s for s in self.specs if s.web), None)
        if spec is None:
            return False, "no web workers to scale", 0
        current = self.targets[spec.name]
        target = workers if workers is not None else current + delta
        if self.stopping or self.reloading is not None:
            return False, "busy: the server is " + ("stopping" if self.stopping else "reloading"), current
        assert self.lu is not None
        limit = self.lu.cells // 2 - sum(1 for s in self.specs if not s.web)
        if target < 1 or target > limit:
            return False, f"workers must be between 1 and {limit}", current
        self.targets[spec.name] = target
        active = sorted((p for p in self.processes if p.spec is spec and p.wanted), key=lambda p: p.slot)
        for proc in active[target:]:
            self._retire(proc, graceful=True)
        used = {p.slot for p in active[:target]}
        slot = 0
        while len(used) < target:
            if slot not in used:
                proc = Process(spec=spec, slot=slot, generation=self.generation)
                self.processes.append(proc)
                self._spawn(proc)
                used.add(slot)
            slot += 1
        log.info("scaled web workers from %d to %d", current, target)
        return True, f"workers: {current} -> {target}", target

    def daemon(self, name: str, action: str) -> tuple[bool, str]:
        """``skitai daemon NAME start|stop|restart``: the processes of one daemon."""
        procs = [p for p in self.processes if p.spec.name == name and not p.spec.web and p.wanted]
        if not procs:
            known = ", ".join(s.name for s in self.specs if not s.web) or "none"
            return False, f"no daemon {name!r} (daemons: {known})"
        if self.stopping:
            return False, "the server is stopping"
        for proc in procs:
            if action == "stop":
                proc.paused = True
                if proc.pid is not None:
                    self._retire(proc, graceful=True, keep=True)
                elif proc.state == State.BACKOFF:
                    self._fire(proc, Input.STOP)
            elif action in ("start", "restart"):
                proc.paused = proc.done = False
                proc.crashes = 0
                proc.next_spawn = 0.0
                if proc.pid is not None and action == "restart":
                    self._retire(proc, graceful=True, keep=True)
                elif proc.state == State.FATAL:  # FATAL is final: a fresh process takes its place
                    fresh = Process(spec=proc.spec, slot=proc.slot, generation=proc.generation,
                                    restarts=proc.restarts, last_exit=proc.last_exit)
                    self.processes[self.processes.index(proc)] = fresh
                    self._spawn(fresh)
                elif proc.pid is None and proc.state in (State.EXITED, State.BACKOFF):
                    self._spawn(proc)
            else:
                return False, f"unknown action {action!r} (start, stop, restart)"
        log.info("daemon %s: %s (%d process%s)", name, action, len(procs), "es" if len(procs) > 1 else "")
        return True, f"{name}: {action} requested"

    def reopen(self) -> None:
        for handler in logging.getLogger("skitai").handlers:
            logmod.reopen_handler(handler)
        frame = codec.encode({"op": "reopen"})
        for proc in self.processes:
            if proc.live:
                self._send(proc, frame)
        log.info("log files reopened")

    def status(self) -> dict[str, Any]:
        return report.status(self)

    def _status_line(self) -> str:
        web = sum(1 for p in self.processes if p.spec.web and p.state == State.RUNNING)
        return f"{web} web worker{'s' if web != 1 else ''} serving, generation {self.generation}"

    # --- stopping ------------------------------------------------------------------------------
    def _retire(self, proc: Process, graceful: bool, keep: bool = False) -> None:
        """Stop ``proc`` (TERM: graceful, QUIT: fast).  ``keep``: respawn it afterwards."""
        proc.wanted = keep
        if proc.pid is None:
            if not keep:
                self._fire(proc, Input.STOP)
                self._forget(proc)
            return
        if proc.state in (State.STARTING, State.RUNNING):
            self._fire(proc, Input.STOP)
        if not proc.spec.web:  # a daemon: its own stop signal and timeout
            grace = proc.spec.stop_timeout if graceful else min(proc.spec.stop_timeout,
                                                                 FAST_STOP_TIMEOUT)
            proc.stop_deadline = time.monotonic() + grace
            _kill(proc.pid, proc.spec.signal)
            return
        grace = self.config.graceful_timeout + 2.0 if graceful else FAST_STOP_TIMEOUT
        proc.stop_deadline = time.monotonic() + grace
        _kill(proc.pid, signal.SIGTERM if graceful else signal.SIGQUIT)

    def _halt(self, exc: HaltServer) -> None:
        log.error("%s", exc.reason)
        print(f"skitai: {exc.reason}", file=sys.stderr, flush=True)
        self.halt_reason = exc.reason
        self.exit_status = exc.exit_status
        self._report_failure(exc.reason)
        self.stop(graceful=True)
        self.stop_deadline = min(self.stop_deadline, time.monotonic() + 10.0)

    def _report_failure(self, reason: str) -> None:
        if self.ready_fd is not None:
            # Kept for the caller (``cli.serve``), which writes it once the pid file lock
            # is released: ``start`` must not return while this master still holds it.
            self.ready_report = f"skitai: {reason}"
        elif not self.halt_reason:
            print(f"skitai: {reason}", file=sys.stderr, flush=True)
        self.notifier.status("failed: " + reason)

    def _cleanup(self) -> None:
        for sig in HANDLED_SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_DFL)
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(-1)
        if self.control is not None:
            self.control.close()
            self.control = None
        for proc in self.processes:
            self._close_channel(proc)
        listeners.cleanup(self.listeners, remove_unix=not self.adopted)
        self.listeners = []
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        if self.selector is not None:
            self.selector.close()
        self.notifier.close()
        if self.ready_fd is not None and not self.ready_report:
            self.ready_report = "skitai: stopped before it was ready"
        log.info("master stopped (exit status %d)", self.exit_status)


def _noop(signum: int, frame: Any) -> None:
    """The signal's number already went to the wakeup fd; nothing else happens here
    (never log in a signal handler: the logging lock may be held by the code it interrupted)."""


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _clock() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")
