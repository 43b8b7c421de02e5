"""The seed's (Skitai 0.26 README's) spellings of the app.py API, as a porting user types them."""

from __future__ import annotations

import pytest

import skitai
from skitai import api


@pytest.fixture(autouse=True)
def fresh_draft():
    api.reset()
    yield
    api.reset()


def test_lukeys_takes_the_seed_list_form() -> None:
    skitai.lukeys(["users", "posts"])
    skitai.trackers("tags", "users")
    assert api.draft().freeze(env={}).lu_keys == ("users", "posts", "tags")


def test_lukeys_list_still_checks_each_key() -> None:
    with pytest.raises(skitai.ConfigError, match="non-empty strings"):
        skitai.lukeys(["users", ""])


def test_short_backend_constants_of_the_seed() -> None:
    assert skitai.PGSQL == skitai.DB_PGSQL == skitai.POSTGRESQL == "postgresql"
    assert (skitai.SQLITE3, skitai.REDIS, skitai.MONGODB) == (
        skitai.DB_SQLITE3, skitai.DB_REDIS, skitai.DB_MONGODB)
