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
published.

The outbound queue (``max_queue``, ``[cluster] max-queue``) holds the local broadcasts
Redis has not taken yet: behind a slow Redis, and all the time it is away.  The local
broadcast has already happened; the queue is what the other hosts have not seen.  After
a reconnect (and its reconcile) the writer publishes the queue in order, so broadcasts
sent while Redis was down are replayed, up to the bound.  Past it the oldest are dropped
and counted (a warning at the first and every 1000th): a long outage keeps the newest
``max_queue`` events, never more memory, never a stalled host.  ``model-changed:<key>``
of a declared lu key is not queued while Redis is away: the reconcile publishes the
newest stamp of each key once.  What a batch had in flight when Redis failed is not
sent again (at most once: Redis may have taken it).  Under a burst the writer sends what
is queued as one pipeline (one write and one round trip for up to ``BATCH`` events)
rather than a round trip per event.  Pub/sub stores nothing, so a replay waits (up to
``REPLAY_GRACE``) until as many daemons listen on the bus as at the last heartbeat before
the outage: the other hosts reconnect on their own backoff, and a replay published
before they are back would reach no one there.
"""

from __future__ import annotations

import asyncio
import collections
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
BATCH = 256  # events per pipeline
# Pub/sub keeps nothing: a replay reaches only the daemons subscribed when it is sent.
# After an outage the other hosts come back on their own backoff (daemon.BACKOFF_MAX), so
# a backlog waits up to this long for as many listeners as the bus had before.
REPLAY_GRACE = 12.0
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
                 max_message: int, log: logging.Logger, max_queue: int = QUEUE_LIMIT) -> None:
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
        self.max_queue = max_queue
        self.listeners = 0  # daemons on the bus channel at the last heartbeat (this one too)
        self.dropped = 0  # events dropped from a full queue (the oldest)
        self._out: collections.deque[dict[str, Any]] = collections.deque()
        self._wake = asyncio.Event()

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
        if loop is None:
            return
        message: dict[str, Any] = {"h": self.host_id, "e": event, "a": list(args), "kw": kwargs}
        key = event[len(MODEL_CHANGED):] if event.startswith(MODEL_CHANGED) else None
        if key is not None and key in self.lu_keys:
            if not self.connected:
                return  # Redis away: the reconcile publishes this key's newest stamp
            message["lu"] = [key, self.local.lu_stamp(key)]
        loop.call_soon_threadsafe(self._enqueue, message)

    def _enqueue(self, message: dict[str, Any]) -> None:
        if len(self._out) >= self.max_queue:
            self._out.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                self.log.warning("cluster: %d broadcast(s) wait for Redis, the max_queue: the "
                                 "oldest dropped (%d so far; they reached this host only)",
                                 self.max_queue, self.dropped)
        self._out.append(message)
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._out)

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
        """Publish the queue in order, what is there at once (replay after a reconnect)."""
        if self._out:
            await self._wait_for_listeners(client, self.listeners)
            self.log.info("cluster: publishing %d broadcast(s) queued while Redis was away",
                          len(self._out))
        while True:
            while not self._out:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._out.popleft() for _ in range(min(BATCH, len(self._out)))]
            await self._send(client, batch)

    async def count_listeners(self, client: aioredis.Redis) -> int:
        """How many daemons listen on the bus now (the heartbeat keeps ``listeners``)."""
        [(_, count)] = await client.pubsub_numsub(keys.bus(self.prefix))
        self.listeners = int(count)
        return self.listeners

    async def _wait_for_listeners(self, client: aioredis.Redis, want: int) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + REPLAY_GRACE
        while want > 1 and loop.time() < end:
            [(_, count)] = await client.pubsub_numsub(keys.bus(self.prefix))
            if count >= want:
                return
            await asyncio.sleep(0.1)

    async def _send(self, client: aioredis.Redis, batch: list[dict[str, Any]]) -> None:
        pipe = client.pipeline(transaction=False)
        count = 0
        for message in batch:
            data = self._encode(message)
            if data is None:
                continue
            lu = message.get("lu")
            if lu:
                pipe.eval(MERGE_LU, 1, keys.lu(self.prefix), lu[0], repr(float(lu[1])))
            pipe.publish(keys.bus(self.prefix), data)
            count += 1
        if not count:
            return
        try:
            await pipe.execute()
        except BaseException:
            self.log.warning("cluster: %d broadcast(s) in flight when Redis failed: not sent "
                             "again (they reached this host)", count)
            raise
        self.sent += count

    def _encode(self, message: dict[str, Any]) -> str | None:
        data = json.dumps(message, separators=(",", ":"))
        if len(data) > self.max_message:
            self.log.warning("cluster: broadcast %r is %d bytes, over max_message (%d): "
                             "delivered on this host only", message.get("e"), len(data),
                             self.max_message)
            return None
        return data

    async def _publish(self, client: aioredis.Redis, message: dict[str, Any]) -> None:
        data = self._encode(message)
        if data is None:
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
