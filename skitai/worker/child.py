"""The web worker's side of supervision (the master's side is ``skitai.master``).

``skitai.worker.main.run`` does, once its server listens::

    sup = child.Supervision(config, ctx)
    sup.attach(loop, server, executor)  # executor: the WSGI thread pool (None: threads=0)
    server.on_request = sup.on_request

and returns ``sup.exit_code`` when ``server.serve()`` ends.

``attach`` marks the worker ready (in its shared-memory cell and with a ``ready``
message: the master waits for it before it retires an older generation), starts the
1/s heartbeat (the master aborts a worker whose beat stops for ``worker_timeout``; it
also writes the thread pool's numbers into the cell, for ``skitai status``),
reads the channel (broadcasts relayed by the master, ``reopen``), and installs the
loop's signal handlers: TERM graceful stop, QUIT fast stop, USR1 reopen logs, INT ignored
(the master answers Ctrl-C for the whole group).

``on_request`` runs at every request start on the loop thread: it writes the request
into the cell (so a worker stuck in that request is named in the master's log) and
counts toward ``max_requests`` (+ a random share of the jitter): then the worker asks
the master for a successor; the master stops this one gracefully once the successor
serves, so no request fails.  If no successor comes within ``RECYCLE_FALLBACK`` seconds
(the master was busy reloading), the worker stops itself gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from typing import Any

from skitai.config.model import ServerConfig
from skitai.errors import ExitCode, ProtocolError
from skitai.ipc import control as codec
from skitai.ipc.context import ChildContext
from skitai.was import process as was_process
from skitai.worker.pool import ThreadPool

log = logging.getLogger("skitai.server")

BEAT_EVERY = 1.0
_monotonic = time.monotonic
RECYCLE_FALLBACK = 60.0


class Supervision:
    def __init__(self, config: ServerConfig, ctx: ChildContext) -> None:
        self.config = config
        self.ctx = ctx
        self.cell = ctx.lu.cell(ctx.cell) if ctx.lu is not None and ctx.cell >= 0 else None
        self.exit_code = 0
        self.requests = 0
        spread = config.max_requests_jitter
        self.limit = (config.max_requests + (random.randint(0, spread) if spread else 0)
                      if config.max_requests else 0)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: Any = None
        self._decoder = codec.Decoder()
        self._out = bytearray()
        self._writing = False
        self._beat: asyncio.TimerHandle | None = None
        self._since = 0.0
        self._shown: str | None = ""
        self._recycling = False
        self.pool: ThreadPool | None = None

    # --- setup ------------------------------------------------------------------------------
    _upstream: Any = None  # the member loads last sent to the master

    def attach(self, loop: asyncio.AbstractEventLoop, server: Any,
               pool: ThreadPool | None = None) -> None:
        """``pool``: the WSGI threads, whose numbers the heartbeat writes (None: threads=0)."""
        self.loop, self.server, self.pool = loop, server, pool
        channel = self.ctx.channel
        if channel is not None:
            channel.setblocking(False)
            loop.add_reader(channel.fileno(), self._on_readable)
        was_process.configure(lu=self.ctx.lu, send=self.send_threadsafe, loop=loop)
        # The signal handlers and "ready" wait until the loop runs: uvloop drops a signal
        # that arrives between two run_until_complete() calls, and the master's TERM may
        # follow "ready" at once (a Ctrl-C just after the start was lost, and the worker
        # was killed at the end of the graceful timeout).  Until then the defaults hold:
        # TERM ends a worker that is not ready yet.
        loop.call_soon(self._start)

    def _start(self) -> None:
        loop, server = self.loop, self.server
        assert loop is not None
        loop.add_signal_handler(signal.SIGTERM, self._stop, True)
        # Ctrl-C reaches every process of the terminal's group: the master turns it into
        # a graceful stop (TERM here), a second one into a fast stop (QUIT here).  Acting
        # on it here as well would cut the in-flight requests the first Ctrl-C lets finish.
        loop.add_signal_handler(signal.SIGINT, _ignore)
        loop.add_signal_handler(signal.SIGQUIT, self._stop, False)
        loop.add_signal_handler(signal.SIGUSR1, server.reopen_logs)
        if self.cell is not None:
            self.cell.heartbeat()
            if self.pool is not None:  # (its configured numbers from the start)
                self.cell.set_threads(self.pool.counts())
            self.cell.ready = True
        self.send({"op": "ready"})
        self._beat = loop.call_later(BEAT_EVERY, self._heartbeat)

    def _stop(self, graceful: bool) -> None:
        self.server.stop(graceful)

    # --- heartbeat and requests ----------------------------------------------------------------
    def _heartbeat(self) -> None:
        server = self.server
        cell = self.cell
        if cell is not None:
            cell.heartbeat()
            cell.requests = server.requests_served
            cell.connections = server.open_connections
            current = server.current_requests()
            text = "; ".join(current)
            if text != self._shown:
                cell.set_request(text, self._since or None)
                self._shown = text
            if self.pool is not None:
                cell.set_threads(self.pool.counts())
        self._report_upstream()
        assert self.loop is not None
        self._beat = self.loop.call_later(BEAT_EVERY, self._heartbeat)

    def _report_upstream(self) -> None:
        """The reverse proxy's member loads, for ``skitai status`` (only when they change)."""
        from skitai.upstream import registry

        try:
            loads = registry.current().loads()
        except RuntimeError:
            return
        if loads and loads != self._upstream:
            self._upstream = loads
            self.send({"op": "upstream", "loads": loads})

    def on_request(self, method: bytes, target: bytes) -> None:
        self.requests = requests = self.requests + 1
        cell = self.cell
        if cell is not None:
            # Written per request so that a worker whose loop an app blocks still names
            # the request it hangs in.  (The request count goes into the cell with the
            # heartbeat: ``status`` may show it a second late, never wrong for long.)
            self._since = now = _monotonic()
            cell.set_request_bytes(method + b" " + target, now)
            self._shown = None  # the next heartbeat rewrites it from the server's view
        if requests >= self.limit > 0 and not self._recycling:
            self._recycle(f"max_requests {self.limit} reached")

    def _recycle(self, reason: str) -> None:
        self._recycling = True
        self.exit_code = ExitCode.RECYCLE
        log.info("worker #%d: %s; asking for a successor", self.ctx.slot, reason)
        if self.ctx.channel is None or self.loop is None:
            if self.server is not None:
                self.server.stop(True)
            return
        self.send({"op": "recycle", "reason": reason})
        self.loop.call_later(RECYCLE_FALLBACK, self._stop, True)

    # --- the channel ----------------------------------------------------------------------------
    def send_threadsafe(self, message: dict[str, Any]) -> None:
        """From any thread: encode here (errors reach the caller), write on the loop."""
        frame = codec.encode(message)
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._write, frame)

    def send(self, message: dict[str, Any]) -> None:
        self._write(codec.encode(message))

    def _write(self, frame: bytes) -> None:
        channel = self.ctx.channel
        if channel is None:
            return
        self._out += frame
        self._flush()

    def _flush(self) -> None:
        channel = self.ctx.channel
        if channel is None or self.loop is None:
            return
        try:
            sent = channel.send(self._out) if self._out else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._out.clear()
            return
        del self._out[:sent]
        if self._out and not self._writing:
            self._writing = True
            self.loop.add_writer(channel.fileno(), self._flush)
        elif not self._out and self._writing:
            self._writing = False
            self.loop.remove_writer(channel.fileno())

    def _on_readable(self) -> None:
        channel = self.ctx.channel
        assert channel is not None and self.loop is not None
        try:
            messages = codec.read_frames(channel, self._decoder)
        except ProtocolError as exc:
            log.error("worker #%d: bad frame from the master: %s", self.ctx.slot, exc)
            self.loop.remove_reader(channel.fileno())
            return
        if messages is None:
            # The master is gone: an orphaned worker stops rather than serve unsupervised.
            self.loop.remove_reader(channel.fileno())
            log.warning("worker #%d lost its master; stopping", self.ctx.slot)
            self.server.stop(True)
            return
        for message in messages:
            op = message.get("op")
            if op == "broadcast":
                with contextlib.suppress(Exception):
                    was_process.deliver(str(message.get("event")), list(message.get("args") or []),
                                        dict(message.get("kwargs") or {}))
            elif op == "reopen":
                self.server.reopen_logs()

    def close(self) -> None:
        if self._beat is not None:
            self._beat.cancel()


def _ignore() -> None:
    """SIGINT in a supervised worker: the master decides (see ``attach``)."""
