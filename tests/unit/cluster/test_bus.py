"""``skitai.cluster.bus``: stamps merged last-writer-wins, reconcile on connect, echoes of
injected events dropped, big messages kept local (real Redis, a fake host side)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis.asyncio as aioredis

from skitai.cluster import bus as bus_mod
from skitai.cluster import keys
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
