"""was database calls against this machine's PostgreSQL and Redis, and SQLite files."""

from __future__ import annotations

import time
import uuid

import pytest

import skitai
from skitai import was
from skitai.was import CallError, result
from tests.unit.was.services import need_pg, need_redis

PG = "postgres@127.0.0.1:5432/test"


@pytest.fixture
def table() -> str:
    return "was_t_" + uuid.uuid4().hex[:8]


def _fill(name: str, table: str) -> None:
    db = was.backend(name)
    db.execute(f"CREATE TABLE {table} (name TEXT, n INTEGER)").wait(10)
    db.execute(f"INSERT INTO {table} VALUES (%s, %s), (%s, %s), (%s, %s)",
               ("b", 2, "a", 1, "c", 3)).wait(10)


def _drop(name: str, table: str) -> None:
    was.backend(name).execute(f"DROP TABLE IF EXISTS {table}").wait(10)


def test_sqlite_and_postgresql_behind_one_alias_give_the_same_rows(tmp_path, table):
    need_pg()
    rows = {}
    for kind, server in ((skitai.DB_SQLITE3, str(tmp_path / "dev.db")), (skitai.DB_PGSQL, PG)):
        skitai.api.reset()
        skitai.alias("@db", kind, server)
        _fill("@db", table)
        try:
            res = was.backend("@db").execute(
                f"SELECT name, n FROM {table} WHERE n >= %s ORDER BY name", (2,)).getwait(10)
            assert res.status == result.DONE, res.error
            rows[kind] = res.data
            assert [r.name for r in res.data] == ["b", "c"]
        finally:
            _drop("@db", table)
    assert rows[skitai.DB_SQLITE3] == rows[skitai.DB_PGSQL] == [{"name": "b", "n": 2},
                                                                 {"name": "c", "n": 3}]


def test_parameters_are_never_text(tmp_path, table):
    need_pg()
    skitai.alias("@pg", skitai.DB_PGSQL, PG)
    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "x.db"))
    evil = "x'); DROP TABLE " + table + "; --"
    for name in ("@pg", "@lite"):
        _fill(name, table)
        try:
            was.backend(name).execute(f"INSERT INTO {table} VALUES (%(v)s, %(n)s)",
                                      {"v": evil, "n": 9}).wait(10)
            rows = was.backend(name).execute(
                f"SELECT name FROM {table} WHERE n = %s", (9,)).getwait(10).data
            assert rows == [{"name": evil}]
        finally:
            _drop(name, table)


def test_seed_spellings_postgresql_excute_and_server_form():
    need_pg()
    res = was.postgresql("127.0.0.1:5432", "test", "postgres").excute(
        "SELECT 1 AS one").getwait(10)
    assert res.status == 3 and res.status_code == 200 and res.data[0].one == 1


def test_query_error_status_2_and_reraise():
    need_pg()
    skitai.alias("@pg", skitai.DB_PGSQL, PG)
    res = was.backend("@pg").execute("SELECT no_such_column").getwait(10)
    assert res.status == result.EXCEPTION
    assert "no_such_column" in str(res.error)
    with pytest.raises(CallError, match="no_such_column"):
        was.backend("@pg").execute("SELECT no_such_column").getwait(10, reraise=True)
    with pytest.raises(CallError):
        was.backend("@pg").execute("SELECT no_such_column").wait(10)


def test_timeout_status_1_and_reraise():
    need_pg()
    skitai.alias("@pg", skitai.DB_PGSQL, PG)
    res = was.backend("@pg", timeout=0.3).execute("SELECT pg_sleep(5)").getwait()
    assert res.status == result.TIMEOUT and isinstance(res.error, TimeoutError)
    with pytest.raises(TimeoutError):
        was.backend("@pg").execute("SELECT pg_sleep(5)").getwait(0.3, reraise=True)


def test_member_down_gives_status_2_with_a_clear_message():
    skitai.alias("@gone", skitai.DB_PGSQL, "postgres@127.0.0.1:1/test")
    res = was.backend("@gone").execute("SELECT 1").getwait(10)
    assert res.status == result.EXCEPTION
    assert isinstance(res.error, OSError)


def test_calls_started_before_the_first_wait_run_concurrently():
    need_pg()
    skitai.alias("@pg", skitai.DB_PGSQL, PG)
    was.backend("@pg").execute("SELECT 1").wait(10)  # the pool exists
    started = time.monotonic()
    calls = [was.backend("@pg").execute("SELECT pg_sleep(1)") for _ in range(3)]
    assert all(c.getwait(10).status == 3 for c in calls)
    assert time.monotonic() - started < 2.5  # one second each, in parallel: not three


def test_lb_fails_over_and_map_gathers():
    need_pg()
    skitai.alias("@pgs", skitai.DB_PGSQL, ["postgres@127.0.0.1:1/test 5", PG + " 1"])
    for _ in range(3):
        res = was.postgresql.lb("@pgs").execute("SELECT 2 AS two").getwait(10)
        assert res.status == 3, res.error
        assert res.data[0].two == 2
    skitai.alias("@both", skitai.DB_PGSQL, [PG, "postgres@localhost:5432/test"])
    results = was.backend.map("@both").execute("SELECT 3 AS three").getswait(10)
    assert results.status_code == [200, 200]
    assert [r.data[0].three for r in results] == [3, 3]


def test_redis_commands_by_their_redis_py_names():
    need_redis()
    skitai.alias("@rd", skitai.DB_REDIS, "127.0.0.1:6379")
    key = "was-test-" + uuid.uuid4().hex
    try:
        assert was.redis("@rd").set(key, "v").wait(5).data is True
        assert was.redis("@rd").get(key).getwait(5).data == "v"
        assert was.backend("@rd").exists(key).getwait(5).data == 1
    finally:
        was.redis("@rd").delete(key).wait(5)
    with pytest.raises(AttributeError, match="no command 'nosuchcommand'"):
        was.redis("@rd").nosuchcommand  # noqa: B018


def test_backend_names_what_is_wrong():
    skitai.alias("@web", skitai.PROTO_HTTP, "127.0.0.1:5000")
    with pytest.raises(LookupError, match="no alias '@nope'"):
        was.backend("@nope")
    with pytest.raises(TypeError, match="is http"):
        was.backend("@web")
    with pytest.raises(TypeError, match="takes an '@alias'"):
        was.backend("127.0.0.1:5432")


def test_a_transaction_left_open_does_not_reach_the_next_call(table):
    need_pg()
    skitai.alias("@pg1", skitai.DB_PGSQL, PG)
    was.backend("@pg1").execute(f"CREATE TABLE {table} (n INTEGER)").wait(10)
    try:
        # Never committed: rolled back when its connection goes back to the pool.
        was.backend("@pg1").execute(f"BEGIN; INSERT INTO {table} VALUES (1)").wait(10)
        for _ in range(20):  # whichever pooled connection answers sees no row
            res = was.backend("@pg1").execute(f"SELECT count(*) AS n FROM {table}").getwait(10)
            assert res.data[0].n == 0
    finally:
        _drop("@pg1", table)


def test_pool_exhausted_is_status_2_with_a_clear_message(monkeypatch):
    need_pg()
    from skitai.was import pg

    monkeypatch.setattr(pg, "POOL_MAX", 1)
    monkeypatch.setattr(pg, "POOL_MIN", 1)
    monkeypatch.setattr(pg, "POOL_WAIT", 0.3)
    # A member of its own (a password trust auth ignores), so a new pool of one connection.
    skitai.alias("@tiny", skitai.DB_PGSQL, "postgres:tiny-pool@127.0.0.1:5432/test")
    was.backend("@tiny").execute("SELECT 1").wait(10)
    busy = was.backend("@tiny").execute("SELECT pg_sleep(1.5)")
    time.sleep(0.2)
    res = was.backend("@tiny").execute("SELECT 1").getwait(10)
    assert res.status == result.EXCEPTION
    assert isinstance(res.error, pg.PoolExhausted) and "connections busy" in str(res.error)
    assert busy.getwait(10).status == result.DONE


def test_a_failing_callback_is_logged_and_the_result_stands(tmp_path, caplog):
    # The seed's @app.mounted example sets callbacks nobody waits on: a failure in one
    # must reach the log, not vanish with the call.
    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "cb.db"))
    seen = []

    def boom(res):
        seen.append(res.data[0].n)
        raise KeyError("STATENAMES")

    with caplog.at_level("ERROR", logger="skitai.was"):
        res = was.backend("@lite", callback=boom).execute("SELECT 7 AS n").getwait(10)
    assert res.status == result.DONE and res.data[0].n == 7
    assert seen == [7]
    assert any("callback" in r.getMessage() and "boom" in r.getMessage() and r.exc_info
               for r in caplog.records), caplog.text


def test_an_interrupted_statement_drops_its_connection_and_the_pool_goes_on():
    need_pg()
    from skitai.was import databases, pg, targets

    # A member of its own, so the pool is this test's alone.
    skitai.alias("@cut", skitai.DB_PGSQL, "postgres:cut-pool@127.0.0.1:5432/test")
    was.backend("@cut").execute("SELECT 1").wait(10)
    res = was.backend("@cut", timeout=0.3).execute("SELECT pg_sleep(3)").getwait(10)
    assert res.status == result.TIMEOUT
    for _ in range(5):  # a fresh connection, not the one left waiting on pg_sleep
        assert was.backend("@cut").execute("SELECT 2 AS n").getwait(10).data[0].n == 2
    drv = [d for d in databases.drivers().values() if isinstance(d, pg.Driver)][0]
    pool = drv.pool(targets.resolve_db("@cut", None).members[0])
    # The interrupted connection was dropped; one new one served the five calls after it.
    assert (pool.get_size(), pool.get_idle_size()) == (1, 1)


def test_a_connection_idle_too_long_is_closed(monkeypatch):
    need_pg()
    from skitai.was import databases, pg, pgpool, targets

    monkeypatch.setattr(pgpool, "IDLE_MAX", 0.05)
    skitai.alias("@idle", skitai.DB_PGSQL, "postgres:idle-pool@127.0.0.1:5432/test")
    both = [was.backend("@idle").execute("SELECT pg_sleep(0.3)") for _ in range(2)]
    assert all(c.getwait(10).status == result.DONE for c in both)  # two connections
    drv = [d for d in databases.drivers().values() if isinstance(d, pg.Driver)][0]
    pool = drv.pool(targets.resolve_db("@idle", None).members[0])
    assert pool.get_size() == 2
    time.sleep(0.2)  # both idle longer than IDLE_MAX
    assert was.backend("@idle").execute("SELECT 1").getwait(10).status == result.DONE
    # The warm one served it; the one at the bottom of the stack was closed.
    assert (pool.get_size(), pool.get_idle_size()) == (1, 1)


def test_outside_a_worker_a_resolved_target_lasts_while_the_aliases_are_the_same(
        tmp_path, monkeypatch):
    from skitai import api
    from skitai.was import targets

    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "a.db"))
    first = targets.resolve_db("@lite", None)
    assert targets.resolve_db("@lite", None) is first  # kept: the same declared aliases
    api.reset()  # a new draft: the alias now names another file
    skitai.alias("@lite", skitai.DB_SQLITE3, str(tmp_path / "b.db"))
    second = targets.resolve_db("@lite", None)
    assert second is not first and second.members[0].path != first.members[0].path
    # Bounded: a server written in each call is an entry of its own, never more than the cap.
    monkeypatch.setattr(targets, "RESOLVED_MAX", 3)
    for n in range(5):
        assert targets.resolve_db(str(tmp_path / f"{n}.db"), "sqlite3").name.endswith(f"{n}.db")
    assert len(targets._draft_db) <= 3


def test_a_worker_imports_its_database_drivers_before_it_serves() -> None:
    """``runtime.start`` imports the driver of every database alias (asyncpg ~40 ms):
    the first call would otherwise import it on the loop, holding every request."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import asyncio, sys
        from types import SimpleNamespace
        from skitai.config import aliases
        from skitai.was import runtime
        kinds = sys.argv[1:]
        members = {"postgresql": "postgres@127.0.0.1:5432/test", "redis": "127.0.0.1:6379",
                   "sqlite3": "/tmp/x.db", "http": "127.0.0.1:1"}
        found = [aliases.make("@" + k, k, members[k], where="test") for k in kinds]
        watched = ("asyncpg", "skitai.was.pg", "redis.asyncio", "skitai.was.redisdb",
                   "skitai.was.sqlite")
        assert not any(m in sys.modules for m in watched), [m for m in watched if m in sys.modules]
        runtime.start(SimpleNamespace(aliases=found, backend_http2=True, max_rcache=10,
                                      backend_keep_alive=10.0, varpath="/tmp", swd="."),
                      asyncio.new_event_loop())
        print(" ".join(m for m in watched if m in sys.modules))
    """)

    def imported(*kinds: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", code, *kinds], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert imported("postgresql") == ["asyncpg", "skitai.was.pg"]
    assert imported("redis", "sqlite3") == ["redis.asyncio", "skitai.was.redisdb",
                                            "skitai.was.sqlite"]
    assert imported("http") == []  # an app with no database alias imports none
