"""The shared memory: setlu across a real fork, process cells, the seqlock'd request text."""

from __future__ import annotations

import os
import time

import pytest

from skitai.ipc import lu as lumod


def _in_child(fn) -> int:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_setlu_in_a_child_is_seen_by_the_parent_and_its_siblings() -> None:
    mem = lumod.LuMemory(4, ["users", "posts"])
    before = mem.getlu("users")
    assert before == mem.started  # never set: the start time
    assert _in_child(lambda: mem.setlu("users", 1234567890.5)) == 0
    assert mem.getlu("users") == 1234567890.5  # set (even if older than the start) wins
    stamp = time.time() + 100
    assert _in_child(lambda: mem.setlu("posts", stamp)) == 0

    def sibling_sees() -> None:
        assert mem.getlu("posts") == stamp
        assert mem.getlu("users", "posts") == stamp

    assert _in_child(sibling_sees) == 0
    assert mem.getlu() == stamp  # no keys: all of them
    mem.close()


def test_unknown_key_names_the_declared_ones() -> None:
    mem = lumod.LuMemory(1, ["a", "b"])
    with pytest.raises(KeyError, match="declared: a, b"):
        mem.setlu("c")
    with pytest.raises(KeyError):
        mem.getlu("c")


def test_claim_fills_free_cells_and_release_frees_them() -> None:
    mem = lumod.LuMemory(3)
    a = mem.claim("worker", 0, 0)
    b = mem.claim("smtpda", 0, 0)
    c = mem.claim("worker", 1, 2)
    assert (a, b, c) == (0, 1, 2)
    assert mem.claim("worker", 2, 0) == -1
    cell = mem.cell(c)
    assert (cell.role, cell.slot, cell.generation) == ("worker", 1, 2)
    assert mem.cell(b).role == "smtpda"
    mem.release(b)
    assert mem.in_use() == 2
    assert mem.claim("cron", 0, 0) == 1
    assert mem.cell(1).role == "cron" and mem.cell(1).pid == 0


def test_any_role_name_is_kept_in_its_cell() -> None:
    # Any daemon's name, not a table of built-in roles; a long one is cut at a UTF-8
    # character boundary, and the request text beside it is untouched.
    mem = lumod.LuMemory(3)
    a = mem.claim("pipd-exporter", 0, 0)
    long_name = "é" * 40  # 80 bytes
    b = mem.claim(long_name, 3, 1)
    mem.cell(b).set_request("GET /x")
    assert mem.cell(a).role == "pipd-exporter"
    assert mem.cell(b).role == "é" * (lumod.ROLE_SIZE // 2)
    assert mem.cell(b).request()[0] == "GET /x"
    assert mem.cell(2).role == ""
    mem.release(a)
    assert mem.cell(a).role == ""
    assert mem.cell(mem.claim("w", 0, 0)).role == "w"  # no leftover of the longer name


def test_a_child_writes_its_cell_and_the_master_reads_it() -> None:
    mem = lumod.LuMemory(2)
    index = mem.claim("worker", 0, 0)

    def child() -> None:
        cell = mem.cell(index)
        cell.heartbeat(42.0)
        cell.ready = True
        cell.requests = 7
        cell.connections = 3
        cell.set_request("GET /slow?x=1", since=40.0)

    assert _in_child(child) == 0
    cell = mem.cell(index)
    assert (cell.beat, cell.ready, cell.requests, cell.connections) == (42.0, True, 7, 3)
    assert cell.request() == ("GET /slow?x=1", 40.0)
    cell.set_request("")
    assert cell.request() == ("", 0.0)


def test_request_text_is_cut_to_the_field_size() -> None:
    mem = lumod.LuMemory(1)
    cell = mem.cell(mem.claim("worker", 0, 0))
    cell.set_request("GET /" + "x" * 500)
    text, _ = cell.request()
    assert len(text.encode()) == lumod.TEXT_SIZE and text.startswith("GET /xxx")


def test_layout_is_documented_and_aligned() -> None:
    assert lumod.HEADER_SIZE % 8 == 0 and lumod.CELL_SIZE % 8 == 0
    assert lumod.REQ_LEN * 8 < lumod.ROLE_OFFSET
    # The fields in the module docstring's order, none overlapping the next.
    pool_end = (lumod.POOL_SEQ + 1 + len(lumod.ThreadCounts._fields)) * 8
    assert lumod.ROLE_OFFSET + lumod.ROLE_SIZE == lumod.POOL_SEQ * 8
    assert pool_end <= lumod.TEXT_OFFSET and lumod.TEXT_OFFSET + lumod.TEXT_SIZE == lumod.CELL_SIZE
    doc = lumod.__doc__ or ""
    assert f"CELL_SIZE ({lumod.CELL_SIZE})" in doc and f"VERSION ({lumod.VERSION})" in doc
    assert f"{lumod.TEXT_OFFSET}   request text" in doc
    assert f"{lumod.POOL_SEQ}    pool seq" in doc and f"ROLE_SIZE ({lumod.ROLE_SIZE})" in doc
    mem = lumod.LuMemory(5, ["k"])
    assert bytes(mem._buf[:8]) == lumod.MAGIC
    assert mem._q[1] == lumod.VERSION == 3
    assert mem._lu_base * 8 == lumod.HEADER_SIZE + 5 * lumod.CELL_SIZE


def test_thread_counts_are_written_by_a_child_and_read_as_one_set() -> None:
    mem = lumod.LuMemory(3, ["k"])
    a, b, c = mem.claim("worker", 0, 0), mem.claim("worker", 1, 0), mem.claim("smtpda", 0, 0)
    long_role = "r" * 100
    mem.release(c)
    c = mem.claim(long_role, 0, 0)  # a role name filling its field up to the pool words
    full = "GET /" + "y" * 500  # a request text filling its field

    def child() -> None:
        cell = mem.cell(a)
        cell.set_request(full, since=7.0)
        cell.set_threads(lumod.ThreadCounts(threads=4, max_threads=16, threads_running=3,
                                            threads_waiting=5, threads_idle=2,
                                            requests_queued=9))
        cell.requests = 11
        mem.cell(b).set_threads(lumod.ThreadCounts(2, 8, 1, 0, 1, 0))
        mem.cell(c).set_request("cron tick")
        mem.setlu("k", 123.0)

    assert _in_child(child) == 0
    cell = mem.cell(a)
    assert cell.threads() == (4, 16, 3, 5, 2, 9)
    assert cell.threads().max_threads == 16 and cell.threads().requests_queued == 9
    # The words around them are intact: the role before, the seqlock'd text after.
    assert cell.role == "worker" and cell.requests == 11
    assert cell.request() == (full[:lumod.TEXT_SIZE], 7.0)
    assert mem.cell(b).threads() == lumod.ThreadCounts(2, 8, 1, 0, 1, 0)
    assert mem.cell(b).request() == ("", 0.0)
    # A daemon's cell (nobody writes its pool words) reads zeros; its long name is cut
    # before them; the next cell and the setlu table after the last cell are untouched.
    assert mem.cell(c).threads() == lumod.ThreadCounts() == (0, 0, 0, 0, 0, 0)
    assert mem.cell(c).role == "r" * lumod.ROLE_SIZE
    assert mem.cell(c).request()[0] == "cron tick"
    assert mem.getlu("k") == 123.0
    # Rewritten: the counter moved on by two (even: not being written), the numbers new.
    seq = mem._q[mem._word(a) + lumod.POOL_SEQ]
    cell.set_threads(lumod.ThreadCounts(4, 16, 0, 0, 4, 0))
    assert mem._q[mem._word(a) + lumod.POOL_SEQ] == seq + 2 and seq % 2 == 0
    assert cell.threads().threads_idle == 4 and cell.request()[0] == full[:lumod.TEXT_SIZE]
    # Released: the next claimant of the cell starts from zeros.
    mem.release(a)
    assert mem.cell(mem.claim("worker", 2, 1)).threads() == lumod.ThreadCounts()


def test_a_reader_never_sees_half_of_a_write() -> None:
    # A child rewrites the numbers as fast as it can, each set all-equal, until the parent
    # has read enough of them: every set the parent gets is whole (the seqlock).
    mem = lumod.LuMemory(1, ["stop"])
    index = mem.claim("worker", 0, 0)
    mem.cell(index).set_threads(lumod.ThreadCounts(*[1] * 6))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            cell = mem.cell(index)
            deadline = time.monotonic() + 60
            n = 1
            while mem.stamp("stop") == 0.0 and time.monotonic() < deadline:
                n += 1
                cell.set_threads(lumod.ThreadCounts(*[n] * 6))
            code = 0
        finally:
            os._exit(code)
    seen = set()
    try:
        cell = mem.cell(index)
        deadline = time.monotonic() + 30
        while len(seen) < 200 and time.monotonic() < deadline:
            counts = cell.threads()
            assert len(set(counts)) == 1, counts
            seen.add(counts[0])
    finally:
        mem.setlu("stop")
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(seen) >= 200  # (it did read while the child wrote)
