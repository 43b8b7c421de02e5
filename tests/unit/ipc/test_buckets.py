from __future__ import annotations

import os

from skitai.ipc.buckets import BucketTable


def test_token_bucket_spends_and_refills() -> None:
    t = BucketTable(64)
    now = 1000.0
    assert [t.take("a", 2.0, 3, now) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = t.take("a", 2.0, 3, now)
    assert wait == 0.5  # one token comes back in half a second at 2/s
    assert t.take("b", 2.0, 3, now) == 0.0  # another key has its own bucket
    assert t.take("a", 2.0, 3, now + 0.5) == 0.0
    assert t.take("a", 2.0, 3, now + 100) == 0.0  # refilled, but never beyond the burst
    assert [t.take("a", 2.0, 3, now + 100) for _ in range(3)][-1] > 0


def test_a_full_table_reuses_the_longest_idle_slot() -> None:
    t = BucketTable(4)
    for i in range(50):
        assert t.take(f"k{i}", 1.0, 1, float(i)) == 0.0  # never refused for want of room


def test_shared_across_a_fork() -> None:
    t = BucketTable(64)
    pid = os.fork()
    if pid == 0:  # the child spends the only token
        os._exit(0 if t.take("shared", 0.001, 1, 5.0) == 0.0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert t.take("shared", 0.001, 1, 5.0) > 0  # the parent sees it spent
