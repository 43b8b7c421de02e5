"""Broadcasts and ``setlu`` stamps between hosts: one pub/sub channel, one lu hash.

Out: the cluster daemon sees every local broadcast (the master relays each to every
Python daemon).  ``model-changed:<key>`` of a declared lu key also carries the key's
stamp from shared memory; the stamp is merged into the ``lu`` hash by a script that keeps
the larger (last writer by timestamp wins) and the event is published for the others.

In: a message from another host stores a newer stamp into this host's shared memory, then
re-broadcasts the event locally through the master, so every worker runs its handlers
once.  That re-broadcast comes back to this daemon like any local one; a count of the
events it injected (by content) recognises the echo and drops it, so nothing loops.

Reconcile, on every (re)connect and before the first message is read: each declared key's
local stamp goes through the same merge; a newer remote one is stored here (and
``model-changed:<key>`` broadcast), a newer local one (written while Redis was away) is
published.  Redis down: nothing goes out (the local broadcast already happened), stamps
wait for the next reconcile.  The outbound queue is bounded: a slow Redis drops events
with a warning rather than grow without end or stall the host.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

import redis.asyncio as aioredis

from skitai.cluster import keys

MODEL_CHANGED = "model-changed:"
QUEUE_LIMIT = 10000
# Injected events whose echo is awaited; past the limit, those older than ECHO_SECONDS are
# forgotten (the master relays within milliseconds: an older one was lost).
ECHO_LIMIT = 1000
ECHO_SECONDS = 60.0
# The larger stamp wins.  Stamps travel as Python's repr of the float (exact), and the
# script returns the stored strings, never Lua numbers (Redis would truncate them).
MERGE_LU = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if (not raw) or tonumber(ARGV[2]) > tonumber(raw) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return {ARGV[2], raw or '0'}
end
return {raw, raw}
"""


class Local(Protocol):
    """This host's side (``DaemonContext`` is one)."""

    def lu_stamp(self, key: str) -> float: ...
    def store_lu(self, key: str, when: float) -> None: ...
    def broadcast(self, event: str, *args: Any, **kwargs: Any) -> None: ...


def fingerprint(event: str, args: Iterable[Any], kwargs: dict[str, Any]) -> str:
    return json.dumps([event, list(args), kwargs], sort_keys=True, separators=(",", ":"))


class Bus:
    def __init__(self, local: Local, *, prefix: str, host_id: str, lu_keys: Iterable[str],
                 max_message: int, log: logging.Logger) -> None:
        self.local = local
        self.prefix = prefix
        self.host_id = host_id
        self.lu_keys = tuple(lu_keys)
        self.max_message = max_message
        self.log = log
        self.connected = False
        self.sent = 0
        self.received = 0
        self._echo: dict[str, list[float]] = {}  # fingerprint -> when each was injected
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._dropped = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    # --- local events (called on the daemon's channel thread) ---------------------------------
    def on_local(self, event: str, *args: Any, **kwargs: Any) -> None:
        """The ``"*"`` broadcast handler: every event the master relayed to this daemon."""
        mark = fingerprint(event, args, kwargs)
        with self._lock:
            pending = self._echo.get(mark)
            if pending:  # our own injection of another host's event: already sent everywhere
                pending.pop(0)
                if not pending:
                    del self._echo[mark]
                return
        loop = self._loop
        if not self.connected or loop is None:
            return  # Redis away: the event stays local; lu stamps wait for the reconcile
        message: dict[str, Any] = {"h": self.host_id, "e": event, "a": list(args), "kw": kwargs}
        key = event[len(MODEL_CHANGED):] if event.startswith(MODEL_CHANGED) else None
        if key is not None and key in self.lu_keys:
            message["lu"] = [key, self.local.lu_stamp(key)]
        loop.call_soon_threadsafe(self._enqueue, message)

    def _enqueue(self, message: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                self.log.warning("cluster: Redis is slower than this host's broadcasts: "
                                 "%d event(s) kept local", self._dropped)

    def inject(self, event: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Broadcast another host's event here, remembering it so its echo is not sent back."""
        mark = fingerprint(event, args, kwargs)
        now = time.monotonic()
        with self._lock:
            if len(self._echo) > ECHO_LIMIT:  # echoes that never came (a lost relay)
                self._echo = {k: v for k, v in self._echo.items() if v[-1] > now - ECHO_SECONDS}
            self._echo.setdefault(mark, []).append(now)
        try:
            self.local.broadcast(event, *args, **kwargs)
        except ValueError:
            with self._lock:
                self._echo.pop(mark, None)
            raise

    # --- Redis side ----------------------------------------------------------------------------
    async def merge(self, client: aioredis.Redis, key: str, stamp: float) -> tuple[float, float]:
        """(the winning stamp, the stored one before) after offering ``stamp``."""
        won, before = await client.eval(MERGE_LU, 1, keys.lu(self.prefix), key, repr(stamp))
        return float(won), float(before)

    async def reconcile(self, client: aioredis.Redis) -> None:
        for key in self.lu_keys:
            local = self.local.lu_stamp(key)
            if local > 0.0:
                won, before = await self.merge(client, key, local)
            else:
                raw = await client.hget(keys.lu(self.prefix), key)
                won = before = float(raw) if raw else 0.0
            if won > local:
                self.local.store_lu(key, won)
                self.log.info("cluster: %s is newer on another host: loaded", key)
                self.inject(MODEL_CHANGED + key, [], {})
            elif local > 0.0 and local > before:
                await self._publish(client, {"h": self.host_id, "e": MODEL_CHANGED + key,
                                             "a": [], "kw": {}, "lu": [key, local]})

    async def writer(self, client: aioredis.Redis) -> None:
        while True:
            message = await self._queue.get()
            lu = message.get("lu")
            if lu:
                await self.merge(client, lu[0], float(lu[1]))
            await self._publish(client, message)

    async def _publish(self, client: aioredis.Redis, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"))
        if len(data) > self.max_message:
            self.log.warning("cluster: broadcast %r is %d bytes, over max_message (%d): "
                             "delivered on this host only", message.get("e"), len(data),
                             self.max_message)
            return
        await client.publish(keys.bus(self.prefix), data)
        self.sent += 1

    async def reader(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is None or item.get("type") != "message":
                continue
            self.on_remote(item["data"])

    def on_remote(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
            origin, event = message["h"], str(message["e"])
            args, kwargs = list(message.get("a") or []), dict(message.get("kw") or {})
        except (ValueError, KeyError, TypeError) as exc:
            self.log.warning("cluster: a malformed message on the bus dropped: %s", exc)
            return
        if origin == self.host_id:
            return
        self.received += 1
        lu = message.get("lu")
        if isinstance(lu, list) and len(lu) == 2 and lu[0] in self.lu_keys:
            key, stamp = str(lu[0]), float(lu[1])
            if stamp > self.local.lu_stamp(key):
                self.local.store_lu(key, stamp)
        try:
            self.inject(event, args, kwargs)
        except ValueError as exc:
            self.log.warning("cluster: event %r from %s not delivered: %s", event, origin, exc)

    def drain(self) -> None:
        """Forget what was queued for a Redis that went away (events stay local)."""
        while not self._queue.empty():
            self._queue.get_nowait()
