"""was.mongodb against a real MongoDB: only when SKITAI_MONGODB_URL is set (no MongoDB
server can run on these machines, so SKITAI_REQUIRE_SERVICES does not demand it)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

import skitai
from skitai import was
from tests.unit.was.services import mongodb_url

pytest.importorskip("pymongo", reason="pymongo (the 'mongodb' extra) is not installed")


def test_insert_find_count_delete():
    url = urlsplit(mongodb_url())
    skitai.alias("@mongo", skitai.DB_MONGODB, url.netloc)
    coll = "was_" + uuid.uuid4().hex[:8]
    db = was.mongodb("@mongo", "skitai_test")
    db.insert(coll, [{"name": "a", "n": 1}, {"name": "b", "n": 2}]).wait(10)
    found = was.mongodb("@mongo", "skitai_test").find(coll, {"n": {"$gte": 2}}).getwait(10)
    assert [d["name"] for d in found.data] == ["b"]
    assert was.mongodb("@mongo", "skitai_test").findone(coll, {"name": "a"}).getwait(10).data["n"] == 1
    assert was.backend("@mongo", "skitai_test").count(coll).getwait(10).data == 2
    assert was.mongodb("@mongo", "skitai_test").delete(coll, {}).getwait(10).data == 2
