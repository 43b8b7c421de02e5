"""was.status(), txnid(), log(), traceback(), gentemp(), and the request binding."""

from __future__ import annotations

import json
import logging
import os

import skitai
from skitai import was
from skitai.was import context


def test_status_html_json_and_dict(tmp_path):
    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "s.db"))
    was.backend("@lite").execute("SELECT 1").wait(5).cache(60)
    was.backend("@lite").execute("SELECT 1").wait(5)
    data = was.status(format="dict")
    assert data["processes"][0]["pid"] == os.getpid()
    assert data["this_worker"]["result_cache"]["hits"] >= 1
    assert str(tmp_path / "s.db") in data["this_worker"]["databases"]["sqlite3"]
    assert json.loads(was.status(format="json"))["pid"] == os.getpid()
    page = was.status()
    assert page.startswith("<!DOCTYPE html>") and "Result cache" in page


def test_request_binding_txnid_and_log(caplog):
    environ = {"skitai.gtxid": "GTID-abc", "skitai.ltxid": "2001"}
    token = context.bind(environ)
    try:
        assert was.environ is environ
        assert was.txnid() == ("GTID-abc", 2001)
        with caplog.at_level(logging.INFO, logger="skitai.app"):
            was.log("hello %s", "info", "world")
            try:
                1 / 0  # noqa: B018
            except ZeroDivisionError:
                was.traceback("failed")
        assert "[GTID-abc 2001] hello world" in caplog.text
        assert "ZeroDivisionError" in caplog.text
        # The n-th backend call of this request gets 3001 + n ("the first digit is the depth").
        assert context.txn().next_call()[0] == 3002
    finally:
        context.reset(token)
    assert was.environ is None


def test_gentemp_makes_a_new_private_file():
    first, second = was.gentemp(suffix=".txt"), was.gentemp(suffix=".txt")
    try:
        assert os.path.isfile(first) and first.endswith(".txt") and first != second
        assert os.stat(first).st_mode & 0o077 == 0
    finally:
        os.unlink(first)
        os.unlink(second)


def test_a_failed_call_is_logged_with_its_transaction_ids(tmp_path, caplog):
    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "l.db"))
    token = context.bind({"skitai.gtxid": "GTID-log", "skitai.ltxid": "1000"})
    try:
        with caplog.at_level(logging.WARNING, logger="skitai.was"):
            res = was.backend("@lite").execute("SELECT no_such_column").getwait(5)
        assert res.status == 2 and res.ltxid == 2001
        assert "[GTID-log 2001]" in caplog.text and "no_such_column" in caplog.text
    finally:
        context.reset(token)
