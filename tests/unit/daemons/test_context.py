"""``DaemonContext`` without a master: the stop signal reaches sync and asyncio code."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from skitai.daemons.context import DaemonContext, MasterGone


def test_stopping_from_sync_code() -> None:
    ctx = DaemonContext("t", config={"a": 1})
    assert not ctx.stopping() and ctx.config["a"] == 1 and not ctx.supervised
    with pytest.raises(TypeError):
        ctx.config["a"] = 2  # type: ignore[index]
    called: list[str] = []
    ctx.on_stop(lambda: called.append("cb"))
    threading.Timer(0.1, ctx.request_stop, args=("test",)).start()
    started = time.monotonic()
    assert ctx.wait(30) is True  # woken by the stop, not by the timeout
    assert time.monotonic() - started < 29
    assert ctx.stopping() and ctx.stop_reason == "test" and called == ["cb"]
    ctx.on_stop(lambda: called.append("late"))  # after the stop: called at once
    assert called == ["cb", "late"]


def test_stopping_from_asyncio_code() -> None:
    ctx = DaemonContext("t")

    async def main() -> bool:
        assert await ctx.wait_async(0.01) is False  # a timeout, not a stop
        assert await ctx.wait_async(0.01) is False
        threading.Timer(0.1, ctx.request_stop).start()
        return await ctx.wait_async(30)

    assert asyncio.run(main()) is True
    assert len(ctx._stop_callbacks) == 0  # one callback per loop, fired


def test_lu_and_broadcast_standalone() -> None:
    ctx = DaemonContext("t")
    got: list[tuple[object, ...]] = []
    ctx.on_broadcast("model-changed:users")(lambda *a: got.append(a))
    before = ctx.getlu("users")
    ctx.setlu("users")
    assert ctx.getlu("users") >= before and got == [()]
    with pytest.raises(MasterGone):
        ctx.ask({"op": "status"})
