"""Django QuerySets run through ``was.backend`` (README "Using Django Models": select
only), in a real server: the same QuerySet against the SQLite file Django uses and
against this machine's PostgreSQL; anything but a SELECT is refused by name."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import textwrap
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app
from tests.unit.was.services import need_pg

pytest.importorskip("django", reason="Django is in the test extras")

SETTINGS = """
SECRET_KEY = "test-only-secret"
INSTALLED_APPS = ["photos"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %(db)r}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

MODELS = """
import os
from django.db import models


class Photo(models.Model):
    user = models.CharField(max_length=50)
    title = models.CharField(max_length=100)
    topic = models.IntegerField()

    class Meta:
        app_label = "photos"
        db_table = os.environ["TEST_TABLE"]
"""

APP = '''
from skitai.saddle import Saddle
from photos.models import Photo          # at the top: use_django_models set Django up
from django.db.models.sql import UpdateQuery

app = Saddle(__name__)


@app.route("/photos")
def photos(was, alias):
    qs = Photo.objects.filter(topic=1).order_by("title")
    res = was.backend(alias).execute(qs).getwait(10)
    return {"status": res.status, "rows": res.data}


@app.route("/none")
def none(was, alias):
    res = was.backend(alias).execute(Photo.objects.filter(pk__in=[])).getwait(10)
    return {"status": res.status, "rows": res.data}


@app.route("/update")
def update(was, alias):
    query = UpdateQuery(Photo)
    query.add_update_values({"title": "changed"})
    try:
        was.backend(alias).execute(query)
    except ValueError as exc:
        return {"refused": str(exc)}
    return {"refused": None}
'''

MAIN = """
    import os
    import skitai
    if __name__ == "__main__":
        skitai.use_django_models("site/mysite/settings.py")
        skitai.alias("@lite", skitai.DB_SQLITE3, os.path.abspath("db.sqlite3"))
        skitai.alias("@pg", skitai.DB_PGSQL, "postgres@127.0.0.1:5432/test")
        skitai.mount("/", "saddleapp.py", "app")
        skitai.run(workers=1, threads=2)
"""

ROWS = [("hans", "b-title", 1), ("hans", "a-title", 1), ("kim", "c-title", 2)]


def _pg(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test", ssl=False)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    loop = asyncio.new_event_loop()  # not asyncio.run(): later tests ask for this thread's loop
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()


def _fill_sql(table: str) -> str:
    values = ", ".join(f"({i}, '{u}', '{t}', {n})" for i, (u, t, n) in enumerate(ROWS, 1))
    return (f'CREATE TABLE {table} (id INTEGER PRIMARY KEY, "user" VARCHAR(50), '
            f"title VARCHAR(100), topic INTEGER); INSERT INTO {table} VALUES {values};")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    need_pg()
    root: Path = tmp_path_factory.mktemp("wasdj")
    table = "was_dj_" + uuid.uuid4().hex[:8]
    site = root / "site"
    (site / "mysite").mkdir(parents=True)
    (site / "photos").mkdir()
    (site / "mysite" / "__init__.py").write_text("")
    (site / "mysite" / "settings.py").write_text(SETTINGS % {"db": str(root / "db.sqlite3")})
    (site / "photos" / "__init__.py").write_text("")
    (site / "photos" / "models.py").write_text(textwrap.dedent(MODELS))
    (root / "saddleapp.py").write_text(APP)
    db = sqlite3.connect(root / "db.sqlite3")
    db.executescript(_fill_sql(table))
    db.close()
    _pg(f"DROP TABLE IF EXISTS {table}; " + _fill_sql(table))
    try:
        server = start_app(root, MAIN, env={"TEST_TABLE": table})
        yield server
        server.stop()
    finally:
        _pg(f"DROP TABLE IF EXISTS {table}")


def get(srv: ServerProcess, path: str) -> object:
    try:
        with urllib.request.urlopen(srv.url(path), timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(exc.read().decode(errors="replace")) from None


@pytest.mark.parametrize("alias", ["@lite", "@pg"])
def test_queryset_selects_through_was_backend(srv: ServerProcess, alias: str) -> None:
    out = get(srv, f"/photos?alias={alias}")
    assert out == {"status": 3, "rows": [
        {"id": 2, "user": "hans", "title": "a-title", "topic": 1},
        {"id": 1, "user": "hans", "title": "b-title", "topic": 1}]}


@pytest.mark.parametrize("alias", ["@lite", "@pg"])
def test_queryset_matching_nothing_gives_no_rows(srv: ServerProcess, alias: str) -> None:
    assert get(srv, f"/none?alias={alias}") == {"status": 3, "rows": []}


@pytest.mark.parametrize("alias", ["@lite", "@pg"])
def test_only_select_querysets_run(srv: ServerProcess, alias: str) -> None:
    out = get(srv, f"/update?alias={alias}")
    assert isinstance(out, dict) and out["refused"] is not None
    assert "only a SELECT" in out["refused"] and "UPDATE" in out["refused"]
