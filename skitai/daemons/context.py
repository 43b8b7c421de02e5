"""``DaemonContext``: what a Python daemon gets, under a master or standalone.

- ``ctx.name``, ``ctx.slot`` (0..count-1), ``ctx.config`` (its own section, read-only),
  ``ctx.server_config`` (the whole frozen ``ServerConfig``), ``ctx.log`` (a logger named
  ``skitai.daemon.<name>``), ``ctx.supervised`` (a master runs it).
- Stopping: ``ctx.stopping()`` is True once the stop signal came (or the master went
  away); ``ctx.wait(seconds)`` sleeps until then (True when stopping);
  ``await ctx.wait_async(seconds)`` is the same for asyncio code; ``ctx.on_stop(fn)``
  calls ``fn()`` once when stopping starts (from whichever thread noticed: hand over to
  a loop with ``loop.call_soon_threadsafe``).
- ``ctx.heartbeat()`` stamps its shared-memory cell (the master watches it when the
  daemon's ``heartbeat`` option is set); ``ctx.ready()`` says RUNNING before ``startsecs``.
- ``ctx.setlu(key)``, ``ctx.getlu(*keys)``, ``ctx.broadcast(event, *args, **kw)`` and
  ``ctx.on_broadcast(event)`` as ``was`` has them for the web workers.
- ``ctx.status(text)`` sets the line ``skitai status`` shows for this process (a queue
  depth, say); ``ctx.ask({"op": "status"})`` sends the master a command and returns its
  answer (the control socket's vocabulary).

Every method may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
import types
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from skitai.ipc import control as codec

Handler = Callable[..., Any]


class MasterGone(Exception):
    """``ctx.ask()`` without a master, or the master did not answer."""


class DaemonContext:
    def __init__(self, name: str, *, config: Mapping[str, Any] | None = None,
                 server_config: Any = None, slot: int = 0, channel: socket.socket | None = None,
                 lu: Any = None, cell: int = -1, log: logging.Logger | None = None) -> None:
        self.name = name
        self.slot = slot
        self.config: Mapping[str, Any] = types.MappingProxyType(dict(config or {}))
        self.server_config = server_config
        self.log = log or logging.getLogger(f"skitai.daemon.{name}")
        self._channel = channel
        self._lu = lu
        self._cell = lu.cell(cell) if lu is not None and cell >= 0 else None
        self._stop = threading.Event()
        self._stop_callbacks: list[Callable[[], object]] = []
        self._events: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = (
            weakref.WeakKeyDictionary())
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._handlers: dict[str, list[Handler]] = {}
        self._replies: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._next_id = 0
        self._local_lu: dict[str, float] = {}
        self._started = time.time()
        self.stop_reason = ""

    # --- stopping ------------------------------------------------------------------------------
    @property
    def supervised(self) -> bool:
        return self._channel is not None

    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds, less when stopping starts; True when stopping."""
        return self._stop.wait(timeout)

    async def wait_async(self, timeout: float | None = None) -> bool:
        if self._stop.is_set():
            return True
        loop = asyncio.get_running_loop()
        event = self._events.get(loop)
        if event is None:  # one event per loop, set once: a loop of waits adds nothing
            event = self._events[loop] = asyncio.Event()
            self.on_stop(lambda: loop.call_soon_threadsafe(event.set))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return self._stop.is_set()

    def on_stop(self, callback: Callable[[], object]) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._stop_callbacks.append(callback)
                return
        callback()

    def request_stop(self, reason: str = "") -> None:
        """Start stopping (the host calls this on the stop signal or the master's EOF)."""
        with self._lock:
            if self._stop.is_set():
                return
            self.stop_reason = reason
            self._stop.set()
            callbacks, self._stop_callbacks = self._stop_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one bad callback must not block the others
                self.log.exception("stop callback %r failed", callback)

    # --- liveness ------------------------------------------------------------------------------
    def heartbeat(self) -> None:
        if self._cell is not None:
            self._cell.heartbeat()

    def ready(self) -> None:
        self._send({"op": "ready"})

    def status(self, info: str | Mapping[str, Any]) -> None:
        """What ``skitai status`` shows for this process (kept until the next call)."""
        self._send({"op": "status", "info": info if isinstance(info, str) else dict(info)})

    # --- shared memory and events --------------------------------------------------------------
    def setlu(self, key: str) -> None:
        if self._lu is not None:
            self._lu.setlu(key)
        else:
            self._local_lu[key] = time.time()
        self.broadcast(f"model-changed:{key}")

    def getlu(self, *keys: str) -> float:
        if self._lu is not None:
            return float(self._lu.getlu(*keys))
        if not keys:
            return max(self._local_lu.values(), default=self._started)
        return max(self._local_lu.get(k, self._started) for k in keys)

    def lu_stamp(self, key: str) -> float:
        """The stored time of ``key`` (0.0: never set), without the start-time default."""
        if self._lu is not None:
            return float(self._lu.stamp(key))
        return self._local_lu.get(key, 0.0)

    def store_lu(self, key: str, when: float) -> None:
        """Write a given time (a newer one from elsewhere, e.g. another host) and no event."""
        if self._lu is not None:
            self._lu.setlu(key, when)
        else:
            self._local_lu[key] = when

    def broadcast(self, event: str, *args: Any, **kwargs: Any) -> None:
        """To every web worker and Python daemon (this one included)."""
        message = {"op": "broadcast", "event": event, "args": list(args), "kwargs": kwargs}
        frame = codec.encode(message)  # a bad argument raises here, in the caller
        if self._channel is None:
            self.deliver(event, list(args), kwargs)
            return
        self._send_frame(frame)

    def on_broadcast(self, event: str) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            with self._lock:
                self._handlers.setdefault(event, []).append(func)
            return func

        return register

    def deliver(self, event: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._handlers.get(event, ())) + [
                lambda *a, _f=f, **k: _f(event, *a, **k) for f in self._handlers.get("*", ())]
        for func in targets:
            try:
                func(*args, **kwargs)
            except Exception:  # noqa: BLE001
                self.log.exception("broadcast handler for %r failed", event)

    # --- the master's commands -----------------------------------------------------------------
    def ask(self, message: Mapping[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send the master a command (``{"op": "status"}``, ``{"op": "daemon", ...}``)
        and wait for its answer."""
        if self._channel is None:
            raise MasterGone("no master: this daemon runs standalone")
        with self._lock:
            self._next_id += 1
            rid = self._next_id
            done: tuple[threading.Event, list[dict[str, Any]]] = (threading.Event(), [])
            self._replies[rid] = done
        try:
            self._send({"op": "control", "id": rid, "message": dict(message)})
            if not done[0].wait(timeout):
                raise MasterGone(f"the master did not answer {message.get('op')!r} in {timeout:g}s")
            return done[1][0]
        finally:
            with self._lock:
                self._replies.pop(rid, None)

    def on_message(self, message: dict[str, Any]) -> None:
        """A frame from the master (the host's reader thread calls this)."""
        op = message.get("op")
        if op == "broadcast":
            self.deliver(str(message.get("event")), list(message.get("args") or []),
                         dict(message.get("kwargs") or {}))
        elif op == "reply":
            with self._lock:
                waiter = self._replies.get(int(message.get("id") or 0))
            if waiter is not None:
                waiter[1].append(dict(message.get("answer") or {}))
                waiter[0].set()

    def _send(self, message: dict[str, Any]) -> None:
        if self._channel is not None:
            self._send_frame(codec.encode(message))

    def _send_frame(self, frame: bytes) -> None:
        channel = self._channel
        if channel is None:
            return
        with self._send_lock, contextlib.suppress(OSError):
            channel.sendall(frame)
