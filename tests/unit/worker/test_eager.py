"""skitai.worker.eager: a handler's coroutine runs at once, a Task only when it waits."""

import asyncio

import pytest

from skitai.worker import eager


def run(coro_fn):
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def test_a_coroutine_that_never_waits_finishes_inside_start() -> None:
    seen = []

    async def handler() -> None:
        seen.append("ran")

    async def main(loop):
        fut = eager.start(loop, handler())
        assert seen == ["ran"]  # before any loop turn
        return fut

    assert run(main) is None


def test_a_waiting_coroutine_resumes_with_the_awaited_result() -> None:
    async def main(loop):
        gate = loop.create_future()
        steps = []

        async def handler():
            steps.append("before")
            value = await gate
            steps.append(value)
            await asyncio.sleep(0)
            return "done"

        task = eager.start(loop, handler())
        assert steps == ["before"] and task is not None and not task.done()
        loop.call_soon(gate.set_result, "value")
        assert await task == "done"
        return steps

    assert run(main) == ["before", "value"]


def test_an_exception_from_the_awaited_future_reaches_the_coroutine() -> None:
    async def main(loop):
        gate = loop.create_future()

        async def handler():
            try:
                await gate
            except KeyError:
                return "caught"
            return "missed"

        task = eager.start(loop, handler())
        gate.set_exception(KeyError("x"))
        return await task

    assert run(main) == "caught"


def test_an_immediate_exception_is_handed_over_as_a_done_future() -> None:
    async def handler():
        raise ValueError("boom")

    async def main(loop):
        fut = eager.start(loop, handler())
        assert fut is not None and fut.done()
        return fut.exception()

    assert isinstance(run(main), ValueError)


def test_cancelling_the_task_cancels_at_the_coroutines_await() -> None:
    async def main(loop):
        gate = loop.create_future()
        cleaned = []

        async def handler():
            try:
                await gate
            finally:
                cleaned.append(True)

        task = eager.start(loop, handler())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return cleaned, gate.cancelled()

    assert run(main) == ([True], True)


def test_cancel_during_a_bare_yield_is_thrown_into_the_coroutine() -> None:
    async def main(loop):
        cleaned = []

        async def handler():
            try:
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                await asyncio.sleep(10)
            finally:
                cleaned.append(True)

        task = eager.start(loop, handler())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return cleaned

    assert run(main) == [True]


def test_two_coroutines_started_eagerly_can_wait_on_one_pending_future() -> None:
    # Regression: the first eager start left the shared future flagged as "blocking", so
    # the second coroutine's `await` raised "await wasn't used with future" (C Future).
    loop = asyncio.new_event_loop()
    try:
        shared = loop.create_future()

        async def waiter(n: int) -> int:
            await shared
            return n

        first = eager.start(loop, waiter(1))
        second = eager.start(loop, waiter(2))
        assert first is not None and second is not None
        assert not second.done()  # it waits too, instead of failing at once
        loop.call_soon(shared.set_result, None)
        assert loop.run_until_complete(asyncio.gather(first, second)) == [1, 2]
    finally:
        loop.close()
