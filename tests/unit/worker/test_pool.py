"""The WSGI thread pool: jobs run on its threads, completions run on the loop (in the
order they were posted), many of them per wake-up."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from skitai.was import bridge
from skitai.worker import pool as pool_module
from skitai.worker.pool import ThreadPool


def test_jobs_run_on_pool_threads_and_complete_on_the_loop() -> None:
    loop = asyncio.new_event_loop()
    pool = ThreadPool(4, loop)
    loop_thread = threading.get_ident()
    ran_on: set[int] = set()
    completed: list[int] = []
    done = loop.create_future()

    def finish(n: int) -> None:
        assert threading.get_ident() == loop_thread
        completed.append(n)
        if len(completed) == 200:
            done.set_result(None)

    def job(n: int) -> None:
        ran_on.add(threading.get_ident())
        pool.complete(finish, n)

    try:
        for n in range(200):
            pool.submit(job, n)
        loop.run_until_complete(asyncio.wait_for(done, 30))
        assert sorted(completed) == list(range(200))
        assert loop_thread not in ran_on
        assert all(t.name.startswith("wsgi_") for t in pool._threads)
    finally:
        pool.shutdown()
        loop.close()


def test_one_wake_up_runs_every_completion_posted_meanwhile() -> None:
    loop = asyncio.new_event_loop()
    pool = ThreadPool(1, loop)
    wakeups: list[int] = []
    completed: list[int] = []
    real = pool._run_completions

    def counting() -> None:
        wakeups.append(len(pool._done))
        real()

    pool._run_completions = counting  # type: ignore[method-assign]
    try:
        gate = threading.Event()

        def burst() -> None:
            for n in range(50):
                pool.complete(completed.append, n)
            gate.set()

        pool.submit(burst)
        assert gate.wait(30)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert completed == list(range(50))
        assert wakeups == [50]  # the loop was woken once for the fifty
    finally:
        pool.shutdown()
        loop.close()


def test_jobs_submitted_in_one_loop_turn_wake_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Quick jobs: the thread woken for the turn runs them all (no GIL fight between four
    # threads), and wakes the loop once for their completions.
    monkeypatch.setattr(pool_module, "STALL", 60.0)  # no stall on a slow machine either
    loop = asyncio.new_event_loop()
    pool = ThreadPool(4, loop)
    ran_on: set[int] = set()
    completed: list[int] = []
    wakeups: list[int] = []
    real = pool._run_completions

    def counting() -> None:
        wakeups.append(len(pool._done))
        real()

    pool._run_completions = counting  # type: ignore[method-assign]

    def job(n: int) -> None:
        ran_on.add(threading.get_ident())
        pool.complete(completed.append, n)

    async def main() -> None:
        pool.submit(lambda: None)  # starts the threads; they go to sleep
        while len(pool._sleepers) < 4:
            await asyncio.sleep(0.001)
        for n in range(100):  # one turn
            pool.submit(job, n)
        while len(completed) < 100:
            await asyncio.sleep(0.001)

    try:
        loop.run_until_complete(asyncio.wait_for(main(), 30))
        assert completed == list(range(100))
        assert len(ran_on) == 1
        assert len(wakeups) <= 2  # (the first job's completion-less post, then the hundred)
    finally:
        pool.shutdown()
        loop.close()


def test_a_job_that_blocks_does_not_hold_back_the_others() -> None:
    # The awake thread's job waits on a later job: another thread must be woken for it,
    # and the completion posted before the blocking job must reach the loop meanwhile.
    loop = asyncio.new_event_loop()
    pool = ThreadPool(2, loop)
    released = threading.Event()
    first_done = threading.Event()
    order: list[str] = []

    def quick_done() -> None:
        order.append("quick")
        first_done.set()

    def quick() -> None:
        pool.complete(quick_done)

    def blocker() -> None:
        # The quick job's completion runs on the loop while this thread is stuck here.
        assert first_done.wait(30)
        assert released.wait(30)
        pool.complete(order.append, "blocker")

    async def main() -> None:
        pool.submit(quick)
        pool.submit(blocker)
        await asyncio.sleep(0)
        await asyncio.sleep(0.05)  # the blocker is running by now
        pool.submit(released.set)
        while "blocker" not in order:
            await asyncio.sleep(0.001)

    try:
        loop.run_until_complete(asyncio.wait_for(main(), 30))
        assert order == ["quick", "blocker"]
    finally:
        pool.shutdown()
        loop.close()


def _wait_in_pool(pool: ThreadPool, loop: asyncio.AbstractEventLoop, jobs: int,
                  timeout: float, lend: bool = True) -> tuple[int, list[str]]:
    """``jobs`` jobs that each wait on a ``Handoff`` (a was call's wait) until ``jobs``
    of them wait at once, or ``timeout``: how many waited together at most, and what
    each got."""
    waiting = 0
    most = 0
    lock = threading.Lock()
    handoffs = [bridge.Handoff() for _ in range(jobs)]
    outcomes: list[str] = []

    def job(n: int) -> None:
        nonlocal waiting, most
        with lock:
            waiting += 1
            most = max(most, waiting)
            if waiting == jobs:
                for h in handoffs:
                    h.set_result("answered")
        try:
            outcome = handoffs[n].result(timeout, lend)
        except TimeoutError:
            outcome = "timeout"
        with lock:
            waiting -= 1
        pool.complete(outcomes.append, outcome)

    async def main() -> None:
        for n in range(jobs):
            pool.submit(job, n)
        while len(outcomes) < jobs:
            await asyncio.sleep(0.005)

    loop.run_until_complete(asyncio.wait_for(main(), 60))
    return most, outcomes


def test_a_thread_waiting_on_a_was_call_lends_its_place() -> None:
    # threads=2, max_threads=6: six jobs all waiting on the loop at once, on six threads.
    loop = asyncio.new_event_loop()
    pool = ThreadPool(2, loop, max_threads=6)
    try:
        most, outcomes = _wait_in_pool(pool, loop, 6, 30)
        assert most == 6
        assert outcomes == ["answered"] * 6
        assert len(pool._threads) == 6
        assert pool._parked == 0
    finally:
        pool.shutdown()
        loop.close()


def test_max_threads_equal_to_threads_lends_nothing() -> None:
    loop = asyncio.new_event_loop()
    pool = ThreadPool(2, loop, max_threads=2)
    try:
        most, outcomes = _wait_in_pool(pool, loop, 3, 0.5)
        assert most == 2  # the third job waited for a place, not on the loop
        assert "timeout" in outcomes
        assert len(pool._threads) == 2
        assert pool._parked == 0
    finally:
        pool.shutdown()
        loop.close()


def test_a_wait_that_does_not_lend_keeps_its_place() -> None:
    # A database call's wait (was.databases: lend=False) holds its thread's place.
    loop = asyncio.new_event_loop()
    pool = ThreadPool(2, loop, max_threads=6)
    try:
        most, outcomes = _wait_in_pool(pool, loop, 3, 0.5, lend=False)
        assert most == 2
        assert "timeout" in outcomes
        assert len(pool._threads) == 2
    finally:
        pool.shutdown()
        loop.close()


def test_after_the_waits_no_more_than_threads_run_app_code() -> None:
    # Four jobs wait on the loop while sixty others queue: two threads run those
    # meanwhile.  When the waits end, the four threads finish their own jobs, and the
    # surplus goes to sleep: the queued jobs (which sleep, so the GIL would let them
    # overlap) never run more than two at a time.
    loop = asyncio.new_event_loop()
    pool = ThreadPool(2, loop, max_threads=6)
    running = 0
    most = 0
    lock = threading.Lock()
    finished: list[int] = []
    handoffs = [bridge.Handoff() for _ in range(4)]
    parked = threading.Semaphore(0)

    def waiter(n: int) -> None:
        parked.release()
        handoffs[n].result(30)
        pool.complete(finished.append, -1)

    def busy(n: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        pool.complete(finished.append, n)

    async def main() -> None:
        for n in range(4):
            pool.submit(waiter, n)
        for _ in range(4):
            while not parked.acquire(blocking=False):
                await asyncio.sleep(0.001)
        for n in range(60):
            pool.submit(busy, n)
        await asyncio.sleep(0.01)
        for h in handoffs:
            h.set_result(None)
        while len(finished) < 64:
            await asyncio.sleep(0.005)

    try:
        loop.run_until_complete(asyncio.wait_for(main(), 60))
        assert sorted(finished) == [-1] * 4 + list(range(60))
        assert 1 <= most <= 2
        assert len(pool._threads) > 2  # (threads were lent)
    finally:
        pool.shutdown()
        loop.close()


def test_counts_show_running_waiting_idle_and_queued() -> None:
    # What `skitai status` shows of a worker's pool: threads=2, max_threads=5.  One job
    # runs app code, one waits on a was call (its place lent, so a third runs), a fourth
    # queues behind the two running; when all are released every thread is idle.
    loop = asyncio.new_event_loop()
    pool = ThreadPool(2, loop, max_threads=5)
    gate = threading.Event()
    handoff = bridge.Handoff()
    finished: list[str] = []
    entered: list[str] = []

    def blocked(name: str) -> None:
        entered.append(name)
        assert gate.wait(30)
        pool.complete(finished.append, name)

    def waiter() -> None:
        handoff.result(30)
        pool.complete(finished.append, "waiter")

    async def until(**want: int) -> None:
        deadline = time.monotonic() + 30
        while any(getattr(pool.counts(), k) != v for k, v in want.items()):
            assert time.monotonic() < deadline, pool.counts()
            await asyncio.sleep(0.01)

    async def main() -> None:
        # (One at a time: a waiter that parks while a job is still queued starts a thread
        # for it, and a thread slow to start, past STALL, may be doubled: fair, but not
        # this test's numbers.)
        pool.submit(blocked, "a")
        while not entered:
            await asyncio.sleep(0.01)
        pool.submit(waiter)
        await until(threads_running=1, threads_waiting=1, threads_idle=0, requests_queued=0)
        pool.submit(blocked, "b")
        await until(threads_running=2, threads_waiting=1, requests_queued=0)
        pool.submit(blocked, "c")
        await asyncio.sleep(0.1)  # (many STALL checks: no place for it while two run)
        await until(threads_running=2, threads_waiting=1, requests_queued=1)
        handoff.set_result("answered")
        gate.set()
        while len(finished) < 4:
            await asyncio.sleep(0.01)
        await until(threads_running=0, threads_waiting=0, requests_queued=0, threads_idle=len(pool._threads))

    try:
        assert pool.counts() == (2, 5, 0, 0, 0, 0)  # threads start at the first job
        loop.run_until_complete(asyncio.wait_for(main(), 60))
        assert pool.counts().threads_idle == len(pool._threads) == 3
        assert (pool.counts().threads, pool.counts().max_threads) == (2, 5)
    finally:
        pool.shutdown()
        loop.close()
