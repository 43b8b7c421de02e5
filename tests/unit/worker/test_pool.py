"""The WSGI thread pool: jobs run on its threads, completions run on the loop (in the
order they were posted), many of them per wake-up."""

from __future__ import annotations

import asyncio
import threading

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
