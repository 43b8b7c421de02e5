"""``skitai.filespool``: per-runner claim folders (one runner's restart never takes back
another's work) and owner tags (a runner takes only its owner's records)."""

from __future__ import annotations

from pathlib import Path

from skitai import filespool
from skitai.spooler import queue


def test_a_restarting_runner_recovers_only_its_own_claims(tmp_path: Path) -> None:
    a = queue.TaskSpool(str(tmp_path), claim_dir="cur.0")
    b = queue.TaskSpool(str(tmp_path), claim_dir="cur.1")
    for i in range(4):
        a.enqueue("m:f", [i], {})
    ids = a.due(10)
    assert len(ids) == 4 and ids == sorted(ids)  # oldest first
    mine, theirs = a.claim(ids[0]), b.claim(ids[1])
    assert mine is not None and theirs is not None and a.claim(ids[1]) is None
    assert a.depth() == 4 and a.claimed() == 2
    assert queue.TaskSpool(str(tmp_path), claim_dir="cur.0").recover() == 1  # a restarts
    assert sorted(a.due(10)) == sorted([ids[0], ids[2], ids[3]])  # b's claim stays b's
    assert b.finish(theirs, filespool.Input.OK) is filespool.State.SENT
    assert len(b.records("sent")) == 1 and a.depth() == 3


def test_owners_keep_their_records(tmp_path: Path) -> None:
    sp = filespool.Spool(str(tmp_path), record_type=filespool.Record, durable=False)
    for owner in ("app-a", "app-b", None):
        sp.add(filespool.Record(id=filespool.new_id(sp.clock()), owner=owner))
    assert len(sp.due(10)) == 3
    assert [sp.claim(i).owner for i in sp.due(10, owner="app-a")] == ["app-a"]  # type: ignore[union-attr]
    assert [sp.claim(i).owner for i in sp.due(10, owner=None)] == [None]  # type: ignore[union-attr]
    assert len(sp.due(10, owner="app-b")) == 1
