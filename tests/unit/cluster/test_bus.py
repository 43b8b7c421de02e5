"""``skitai.cluster.bus``: stamps merged last-writer-wins, reconcile on connect, echoes of
injected events dropped, big messages kept local (real Redis, a fake host side)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from typing import Any

import redis.asyncio as aioredis

from skitai.cluster import bus as bus_mod
from skitai.cluster import keys
from tests.fixtures.redisserver import OwnRedis
from tests.unit.cluster.conftest import URL, run


class FakeHost:
    def __init__(self) -> None:
        self.stamps: dict[str, float] = {}
        self.sent: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def lu_stamp(self, key: str) -> float:
        return self.stamps.get(key, 0.0)

    def store_lu(self, key: str, when: float) -> None:
        self.stamps[key] = when

    def broadcast(self, event: str, *args: Any, **kwargs: Any) -> None:
        self.sent.append((event, args, kwargs))


def make(prefix: str, host: str, max_message: int = 65536) -> tuple[bus_mod.Bus, FakeHost]:
    local = FakeHost()
    return bus_mod.Bus(local, prefix=prefix, host_id=host, lu_keys=("k", "j"),
                       max_message=max_message, log=logging.getLogger("test")), local


def test_merge_keeps_the_newest_stamp_exactly(prefix: str, loop: asyncio.AbstractEventLoop) -> None:
    bus, _ = make(prefix, "a")
    client = aioredis.Redis.from_url(URL)
    stamp = 1795000000.123456
    assert run(loop, bus.merge(client, "k", stamp)) == (stamp, 0.0)
    assert run(loop, bus.merge(client, "k", stamp - 1)) == (stamp, stamp)  # older loses
    assert run(loop, bus.merge(client, "k", stamp + 0.000001)) == (stamp + 0.000001, stamp)
    run(loop, client.aclose())


def test_reconcile_loads_newer_values_and_publishes_newer_local_ones(
        prefix: str, loop: asyncio.AbstractEventLoop) -> None:
    bus, local = make(prefix, "a")
    client = aioredis.Redis.from_url(URL)
    run(loop, client.hset(keys.lu(prefix), "k", repr(2000.5)))
    local.stamps = {"k": 1000.0, "j": 3000.25}  # k is stale here; j was written while away
    pubsub = client.pubsub()
    run(loop, pubsub.subscribe(keys.bus(prefix)))
    run(loop, bus.reconcile(client))
    assert local.stamps["k"] == 2000.5
    assert local.sent == [("model-changed:k", (), {})]  # the host's workers are told
    assert run(loop, client.hget(keys.lu(prefix), "j")) == b"3000.25"

    async def next_message() -> dict[str, Any]:
        while True:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            if item is not None:
                return dict(json.loads(item["data"]))

    published = run(loop, next_message())
    assert (published["h"], published["e"], published["lu"]) == ("a", "model-changed:j",
                                                                  ["j", 3000.25])
    run(loop, pubsub.aclose())
    run(loop, client.aclose())


def test_a_remote_event_is_injected_once_and_its_echo_not_sent_back(prefix: str) -> None:
    bus, local = make(prefix, "a")
    bus.connected = True
    sent_out: list[dict[str, Any]] = []
    bus._enqueue = sent_out.append  # type: ignore[method-assign]

    class Loop:
        def call_soon_threadsafe(self, fn: Any, *args: Any) -> None:
            fn(*args)

    bus.attach(Loop())  # type: ignore[arg-type]
    message = {"h": "b", "e": "model-changed:k", "a": ["x"], "kw": {"n": 1}, "lu": ["k", 50.0]}
    bus.on_remote(json.dumps(message))
    assert local.stamps == {"k": 50.0} and local.sent == [("model-changed:k", ("x",), {"n": 1})]
    bus.on_local("model-changed:k", "x", n=1)  # the master relays it back: the echo
    assert sent_out == []
    bus.on_local("model-changed:k", "x", n=1)  # a real local write of the same content
    assert [m["e"] for m in sent_out] == ["model-changed:k"]
    # Own messages, older stamps and garbage change nothing.
    bus.on_remote(json.dumps({**message, "h": "a"}))
    bus.on_remote(json.dumps({**message, "lu": ["k", 10.0]}))
    bus.on_remote(b"not json")
    assert local.stamps == {"k": 50.0}
    assert len(local.sent) == 2


def test_a_message_over_max_message_stays_local(prefix: str, loop: asyncio.AbstractEventLoop,
                                                caplog: Any) -> None:
    bus, _ = make(prefix, "a", max_message=200)
    client = aioredis.Redis.from_url(URL)
    with caplog.at_level(logging.WARNING):
        run(loop, bus._publish(client, {"h": "a", "e": "big", "a": ["x" * 500], "kw": {}}))
    assert bus.sent == 0 and "over max_message" in caplog.text
    run(loop, bus._publish(client, {"h": "a", "e": "small", "a": [], "kw": {}}))
    assert bus.sent == 1
    run(loop, client.aclose())


# --- the outbound queue: bounded, in order, replayed after an outage ----------------------------
async def _collect(pubsub: Any, count: int, timeout: float = 20.0) -> list[str]:
    """The events of the next ``count`` messages on the bus (fewer if ``timeout`` passes)."""
    got: list[str] = []
    end = asyncio.get_running_loop().time() + timeout
    while len(got) < count and asyncio.get_running_loop().time() < end:
        item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if item is not None:
            got.append(json.loads(item["data"])["e"])
    return got


async def _until(predicate: Any, timeout: float = 20.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not predicate() and asyncio.get_running_loop().time() < end:
        await asyncio.sleep(0.01)
    assert predicate()


def _bus_on(loop: asyncio.AbstractEventLoop, prefix: str, max_queue: int) -> bus_mod.Bus:
    bus = bus_mod.Bus(FakeHost(), prefix=prefix, host_id="a", lu_keys=("k",), max_message=65536,
                      log=logging.getLogger("test"), max_queue=max_queue)
    bus.attach(loop)
    return bus


def test_a_stalled_redis_keeps_the_queue_bounded_dropping_the_oldest(
        tmp_path: Any, loop: asyncio.AbstractEventLoop, caplog: Any) -> None:
    # A private redis-server, SIGSTOPped: the writer's pipeline waits on it while the
    # host's broadcasts keep coming; the queue never holds more than max_queue, the oldest
    # go first (counted and logged), and once Redis moves again the rest go out in order.
    own = OwnRedis(tmp_path / "redis")
    own.start()
    assert own.proc is not None
    prefix = "skitai:stall"
    bus = _bus_on(loop, prefix, max_queue=5)
    bus.connected = True
    client = aioredis.Redis.from_url(own.url)  # no socket timeout: it waits out the stall
    watcher = aioredis.Redis.from_url(own.url)
    pubsub = watcher.pubsub()
    writer = loop.create_task(bus.writer(client))
    try:
        run(loop, pubsub.subscribe(keys.bus(prefix)))
        bus.on_local("e0")
        assert run(loop, _collect(pubsub, 1)) == ["e0"]
        os.kill(own.proc.pid, signal.SIGSTOP)
        bus.on_local("e1")
        run(loop, asyncio.sleep(0.3))  # the writer takes e1 and waits on the stopped Redis
        with caplog.at_level(logging.WARNING):
            for n in range(2, 12):
                bus.on_local(f"e{n}")
            run(loop, asyncio.sleep(0.3))
        assert (bus.queued, bus.dropped, bus.sent) == (5, 5, 1)
        assert "the oldest dropped (1 so far" in caplog.text
        os.kill(own.proc.pid, signal.SIGCONT)
        assert run(loop, _collect(pubsub, 6)) == ["e1", "e7", "e8", "e9", "e10", "e11"]
        run(loop, _until(lambda: bus.sent == 7))  # the replies follow the deliveries
        assert (bus.queued, bus.dropped) == (0, 5)
    finally:
        os.kill(own.proc.pid, signal.SIGCONT)
        writer.cancel()
        run(loop, asyncio.gather(writer, return_exceptions=True))
        run(loop, pubsub.aclose())
        run(loop, watcher.aclose())
        run(loop, client.aclose())
        own.stop()


def test_broadcasts_while_redis_is_away_are_replayed_in_order_up_to_the_bound(
        prefix: str, loop: asyncio.AbstractEventLoop) -> None:
    bus = _bus_on(loop, prefix, max_queue=5)
    bus.connected = False  # Redis away
    for n in range(8):
        bus.on_local(f"e{n}", n)
    bus.on_local("model-changed:k")  # an lu key: the reconcile publishes it, not the queue
    bus.on_local("model-changed:free")  # not an lu key: an ordinary event
    run(loop, asyncio.sleep(0))
    assert (bus.queued, bus.dropped) == (5, 4)
    client = aioredis.Redis.from_url(URL)
    pubsub = client.pubsub()
    run(loop, pubsub.subscribe(keys.bus(prefix)))
    bus.connected = True  # back: the session's writer publishes what waited, in order
    writer = loop.create_task(bus.writer(client))
    assert run(loop, _collect(pubsub, 5)) == ["e4", "e5", "e6", "e7", "model-changed:free"]
    bus.on_local("model-changed:k")  # connected: goes out at once, with its stamp
    assert run(loop, _collect(pubsub, 1)) == ["model-changed:k"]
    writer.cancel()
    run(loop, asyncio.gather(writer, return_exceptions=True))
    run(loop, pubsub.aclose())
    run(loop, client.aclose())
