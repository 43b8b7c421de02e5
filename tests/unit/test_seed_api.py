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


def test_a_call_after_run_froze_the_draft_says_it_is_too_late(tmp_path) -> None:
    (tmp_path / "svc.py").write_text("app = lambda e, s: []\n")
    api.draft().closed = True  # what skitai.run() does before handing over to the CLI
    for call in (lambda: skitai.mount("/x", str(tmp_path / "svc.py")),
                 lambda: skitai.cron("* * * * *", "true"),
                 lambda: skitai.addlu("k"),
                 lambda: skitai.set_keep_alive(5),
                 lambda: skitai.enable_smtpda("127.0.0.1:25")):
        with pytest.raises(skitai.ConfigError, match="too late: skitai.run"):
            call()
    assert api.draft().mounts == [] and api.draft().crons == []


def test_process_display_name_in_common_names_the_server(tmp_path) -> None:
    from skitai.config import conffile

    conf = tmp_path / "skitai.conf"
    conf.write_text("[common]\nprocess-display-name = myshop\n")
    api.draft().default_name = "proj/app"
    assert api.draft().freeze(conf=conffile.read(str(conf)), env={}).name == "myshop"
    assert api.draft().freeze(env={}).name == "proj/app"
