"""Cron schedule semantics on an injected clock (no processes, no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from skitai.config import conffile
from skitai.cron import schedule
from skitai.errors import ConfigError

UTC_ZONE = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def ts(*args: int, tz: ZoneInfo = UTC_ZONE, fold: int = 0) -> float:
    return datetime(*args, tzinfo=tz, fold=fold).timestamp()  # type: ignore[misc]


def fires(spec: str, start: datetime, count: int, tz: ZoneInfo = UTC_ZONE) -> list[datetime]:
    sched = schedule.Schedule(spec, tz)
    out, t = [], start.timestamp()
    for _ in range(count):
        nxt = sched.next_after(t)
        assert nxt is not None
        out.append(datetime.fromtimestamp(nxt, tz))
        t = nxt
    return out


def fires_between(spec: str, start: float, end: float, tz: ZoneInfo) -> list[datetime]:
    sched = schedule.Schedule(spec, tz)
    out, t = [], start
    while True:
        nxt = sched.next_after(t)
        assert nxt is not None
        if nxt > end:
            return out
        out.append(datetime.fromtimestamp(nxt, tz))
        t = nxt


JAN1 = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)


# --- field semantics -----------------------------------------------------------------------------


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    days = fires("0 0 13 * fri", JAN1, 6)
    # Fridays (2, 9, 16, 23, 30 Jan) OR the 13th (a Tuesday); the original ANDed them.
    assert [d.day for d in days] == [2, 9, 13, 16, 23, 30]
    assert all(d.weekday() == 4 or d.day == 13 for d in days)


def test_only_day_of_week_restricted_is_not_or_with_star() -> None:
    assert {d.weekday() for d in fires("0 0 * * mon", JAN1, 5)} == {0}


@pytest.mark.parametrize(("spec", "attr", "expected"), [
    ("*/15 * * * *", "minute", [15, 30, 45, 0, 15]),
    ("0 0 */2 * *", "day", [3, 5, 7, 9, 11]),         # from 1, not 0 (the original: even days)
    ("0 0 1 */3 *", "month", [4, 7, 10, 1, 4]),        # Jan, Apr, Jul, Oct (original: Mar, Jun...)
    ("*/45 * * * *", "minute", [45, 0, 45, 0, 45]),    # the original refused steps > half range
    ("10-20/5 * * * *", "minute", [10, 15, 20, 10, 15]),
    ("0 1,13 * * *", "hour", [1, 13, 1, 13, 1]),
])
def test_steps_ranges_lists(spec: str, attr: str, expected: list[int]) -> None:
    assert [getattr(d, attr) for d in fires(spec, JAN1, 5)] == expected


def test_names_are_accepted_and_sunday_is_0_and_7() -> None:
    assert fires("0 0 * * sun", JAN1, 3) == fires("0 0 * * 0", JAN1, 3) == fires("0 0 * * 7", JAN1, 3)
    days = fires("0 9 * jan-mar mon-fri", JAN1, 10)
    assert all(d.weekday() < 5 and d.month <= 3 and d.hour == 9 for d in days)
    assert fires("0 0 1 feb *", JAN1, 1)[0].month == 2


@pytest.mark.parametrize(("macro", "first"), [
    ("@hourly", datetime(2026, 1, 1, 1, tzinfo=UTC)),
    ("@daily", datetime(2026, 1, 2, tzinfo=UTC)),
    ("@midnight", datetime(2026, 1, 2, tzinfo=UTC)),
    ("@weekly", datetime(2026, 1, 4, tzinfo=UTC)),     # Sunday
    ("@monthly", datetime(2026, 2, 1, tzinfo=UTC)),
    ("@yearly", datetime(2027, 1, 1, tzinfo=UTC)),
    ("@annually", datetime(2027, 1, 1, tzinfo=UTC)),
])
def test_macros(macro: str, first: datetime) -> None:
    assert fires(macro, JAN1, 1)[0] == first


def test_reboot_never_fires_on_the_clock_but_is_listed() -> None:
    sched = schedule.Schedule("@reboot", UTC_ZONE)
    assert sched.reboot and sched.next_after(0) is None
    table = schedule.Timetable([sched, schedule.Schedule("* * * * *", UTC_ZONE)], ts(2026, 1, 1))
    assert table.reboot() == [0]
    assert [f.index for f in table.due(ts(2026, 1, 1, 0, 1))[0]] == [1]


def test_seconds_field() -> None:
    got = fires("* * * * * */20", JAN1, 4)
    assert [(d.minute, d.second) for d in got] == [(0, 40), (1, 0), (1, 20), (1, 40)]


@pytest.mark.parametrize("spec", ["* * * *", "* * * * * * 2026", "61 * * * *", "* 24 * * *",
                                  "* * * * xyz", "@fortnightly", "* * 0 * *", ""])
def test_bad_specs_name_their_source(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        schedule.parse_job(spec, "true", "app.py:7")
    assert "app.py:7" in str(info.value)


def test_parse_job_checks_arguments() -> None:
    job = schedule.parse_job("*/5 * * * *", "/usr/bin/backup.sh --all", "app.py:3", timeout=30,
                             env={"A": "1"}, timezone="Europe/Berlin")
    assert (job.name, job.timeout, job.env, job.timezone, job.source) == (
        "backup.sh", 30.0, (("A", "1"),), "Europe/Berlin", "app.py:3")
    for kwargs in ({"timeout": 0}, {"timeout": "x"}, {"timezone": "Mars/Base"}, {"env": {"1A": "x"}}):
        with pytest.raises(ConfigError, match="app.py:3"):
            schedule.parse_job("* * * * *", "true", "app.py:3", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="app.py:3"):
        schedule.parse_job("* * * * *", "  ", "app.py:3")


# --- crontab lines -------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "spec", "command"), [
    ("* * * * * echo hi", "* * * * *", "echo hi"),
    ("*/2 */2 * * * /home/apps/monitor.py > /home/apps/monitor.log 2>&1", "*/2 */2 * * *",
     "/home/apps/monitor.py > /home/apps/monitor.log 2>&1"),
    ("9 2/12 * * *   /x.py   a", "9 2/12 * * *", "/x.py   a"),
    ("* * * * * */2 echo fast", "* * * * * */2", "echo fast"),
    ("* * * * * 5", "* * * * *", "5"),           # only one word left: the command
    ("@daily /bin/backup.sh --x", "@daily", "/bin/backup.sh --x"),
    ("@reboot   touch /tmp/up", "@reboot", "touch /tmp/up"),
])
def test_split_line(line: str, spec: str, command: str) -> None:
    assert schedule.split_line(line) == (spec, command)


CRONTAB = """\
[cron]
verbose = false

[:crontab]
# comment
MAILTO=""
FOO = "bar baz"
*/5 * * * * echo $FOO
CRON_TZ=America/New_York
30 2 * * * /usr/local/bin/report
@reboot echo up
"""


def test_parse_crontab_env_and_zone_lines() -> None:
    conf = conffile.parse_text(CRONTAB, "/etc/skitai.conf")
    jobs = schedule.parse_crontab(conf.raw["crontab"], conf.path)
    assert [(j.spec, j.command, j.timezone, j.source) for j in jobs] == [
        ("*/5 * * * *", "echo $FOO", None, "/etc/skitai.conf:8"),
        ("30 2 * * *", "/usr/local/bin/report", "America/New_York", "/etc/skitai.conf:10"),
        ("@reboot", "echo up", "America/New_York", "/etc/skitai.conf:11"),
    ]
    assert dict(jobs[0].env) == {"MAILTO": "", "FOO": "bar baz"}
    assert jobs[1].name == "report"


@pytest.mark.parametrize(("body", "line", "what"), [
    ("* * * echo", 3, "m h dom mon dow"),
    ("61 * * * * echo", 3, "invalid cron spec"),
    ("CRON_TZ=Nowhere/City", 3, "unknown time zone"),
    ("@daily", 3, "no command"),
])
def test_bad_crontab_lines_name_file_and_line(body: str, line: int, what: str) -> None:
    conf = conffile.parse_text(f"[:crontab]\n# first\n{body}\n", "/home/u/.skitai.conf")
    with pytest.raises(ConfigError) as info:
        schedule.parse_crontab(conf.raw["crontab"], conf.path)
    assert f"/home/u/.skitai.conf:{line}" in str(info.value)
    assert what in str(info.value)


# --- time zones and DST --------------------------------------------------------------------------


@pytest.mark.parametrize(("tz", "day"), [(NY, (2026, 3, 8)), (BERLIN, (2026, 3, 29))])
def test_spring_forward_skipped_time_runs_once(tz: ZoneInfo, day: tuple[int, int, int]) -> None:
    got = fires_between("30 2 * * *", ts(*day, tz=tz) - 1, ts(*day, 23, 59, tz=tz), tz)
    assert len(got) == 1  # 02:30 does not exist: it runs once, at 03:00 (as Vixie cron)
    assert (got[0].hour, got[0].minute) == (3, 0)


@pytest.mark.parametrize(("tz", "day"), [(NY, (2026, 11, 1)), (BERLIN, (2026, 10, 25))])
def test_fall_back_repeated_time_runs_once(tz: ZoneInfo, day: tuple[int, int, int]) -> None:
    start, end = ts(*day, tz=tz) - 1, ts(*day, 23, 59, tz=tz)
    repeated = 1 if tz is NY else 2          # the hour that happens twice
    for spec in (f"30 {repeated} * * *", "30 2 * * *"):
        got = fires_between(spec, start, end, tz)
        assert len(got) == 1, (spec, got)
    # a wildcard-hour job keeps running through both passes of the repeated hour
    every = fires_between("30 * * * *", start, end, tz)
    assert len(every) == 25


def test_zone_changes_the_instant() -> None:
    utc = schedule.Schedule("0 9 * * *", UTC_ZONE).next_after(ts(2026, 1, 1))
    ny = schedule.Schedule("0 9 * * *", NY).next_after(ts(2026, 1, 1))
    assert ny is not None and utc is not None and ny - utc == 5 * 3600


def test_local_zone_follows_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert str(schedule.local_zone()) == "Europe/Berlin"
    assert str(schedule.zone(None)) == "Europe/Berlin"


# --- the timetable: firing on an injected clock --------------------------------------------------


def table(*specs: str, now: float, grace: float = 60.0) -> schedule.Timetable:
    return schedule.Timetable([schedule.Schedule(s, UTC_ZONE) for s in specs], now, grace=grace)


def test_fires_on_the_minute_without_drift() -> None:
    t0 = ts(2026, 1, 1, 10, 0, 17)
    tt = table("* * * * *", "*/5 * * * *", now=t0)
    fired: list[tuple[int, float]] = []
    now = t0
    # wake exactly when asked, plus a varying lateness; over 3 hours the slots stay on :00
    for step in range(400):
        wake = tt.next_wakeup()
        assert wake is not None and wake % 60 == 0
        now = wake + (step % 7) * 0.3
        got, missed = tt.due(now)
        assert not missed
        fired += [(f.index, f.slot) for f in got]
        assert tt.due(now) == ([], [])           # asking again never fires twice
    minutes = [s for i, s in fired if i == 0]
    assert minutes == [ts(2026, 1, 1, 10, 1) + 60 * k for k in range(len(minutes))]
    assert all(s % 300 == 0 for i, s in fired if i == 1)


def test_nothing_due_before_the_slot() -> None:
    tt = table("0 * * * *", now=ts(2026, 1, 1, 10, 0, 1))
    assert tt.due(ts(2026, 1, 1, 10, 59, 59)) == ([], [])
    assert [f.slot for f in tt.due(ts(2026, 1, 1, 11))[0]] == [ts(2026, 1, 1, 11)]


def test_suspend_coalesces_missed_slots_into_one_run() -> None:
    tt = table("*/10 * * * *", now=ts(2026, 1, 1, 10, 0, 1))
    # suspended from 10:05 to 12:05:30: twelve slots missed (10:10 .. 12:00)
    got, missed = tt.due(ts(2026, 1, 1, 12, 5, 30))
    assert not got and len(missed) == 1 and missed[0].count == 12      # 12:00 is 5 min old
    assert tt.next_fire == [ts(2026, 1, 1, 12, 10)]
    tt = table("*/10 * * * *", now=ts(2026, 1, 1, 10, 0, 1))
    got, missed = tt.due(ts(2026, 1, 1, 12, 0, 20))                   # latest slot 20 s old
    assert not missed and [(f.slot, f.coalesced) for f in got] == [(ts(2026, 1, 1, 12), 11)]
    assert tt.due(ts(2026, 1, 1, 12, 0, 40)) == ([], [])


def test_daily_job_missed_beyond_grace_is_skipped_not_run_late() -> None:
    tt = table("0 3 * * *", now=ts(2026, 1, 1, 2, 0))
    got, missed = tt.due(ts(2026, 1, 1, 8, 0))
    assert not got and missed[0].slot == ts(2026, 1, 1, 3)
    assert tt.next_fire == [ts(2026, 1, 2, 3)]


def test_grace_window_is_configurable() -> None:
    tt = table("0 3 * * *", now=ts(2026, 1, 1, 2, 0), grace=6 * 3600)
    got, _ = tt.due(ts(2026, 1, 1, 8, 0))
    assert [f.slot for f in got] == [ts(2026, 1, 1, 3)]


def test_clock_set_back_does_not_replay() -> None:
    tt = table("* * * * *", now=ts(2026, 1, 1, 10, 0, 1))
    for minute in (1, 2, 3):
        assert len(tt.due(ts(2026, 1, 1, 10, minute, 1))[0]) == 1
    # the clock goes back 30 minutes: 09:31 .. 10:03 are not run again
    for second in range(0, 32 * 60, 30):
        assert tt.due(ts(2026, 1, 1, 9, 31) + second) == ([], [])
    assert [f.slot for f in tt.due(ts(2026, 1, 1, 10, 4, 0))[0]] == [ts(2026, 1, 1, 10, 4)]


def test_clock_set_far_back_restarts_the_schedule() -> None:
    tt = table("*/5 * * * *", now=ts(2026, 6, 1, 10, 0, 1))
    assert tt.due(ts(2026, 6, 1, 10, 5))[0]
    assert tt.due(ts(2026, 1, 1, 8, 2)) == ([], [])        # far back: reset, nothing due yet
    assert tt.next_fire == [ts(2026, 1, 1, 8, 5)]
    assert [f.slot for f in tt.due(ts(2026, 1, 1, 8, 5))[0]] == [ts(2026, 1, 1, 8, 5)]


def test_clock_jump_forward_within_grace_runs_once() -> None:
    tt = table("* * * * * */10", now=ts(2026, 1, 1, 10, 0, 1))
    got, missed = tt.due(ts(2026, 1, 1, 10, 0, 45))
    assert not missed and [(f.slot, f.coalesced) for f in got] == [(ts(2026, 1, 1, 10, 0, 40), 3)]


def test_second_level_spec_after_a_long_gap_does_not_walk_forever() -> None:
    tt = table("* * * * * *", now=ts(2026, 1, 1))
    got, missed = tt.due(ts(2026, 1, 2))        # 86400 slots behind
    assert [f.slot for f in got] == [ts(2026, 1, 2)]
    assert tt.next_fire == [ts(2026, 1, 2, 0, 0, 1)]


def test_dst_day_on_the_timetable_runs_once() -> None:
    for day in ((2026, 3, 8), (2026, 11, 1)):
        sched = schedule.Schedule("30 2 * * *", NY)
        start = ts(*day, tz=NY) - 3600
        tt = schedule.Timetable([sched], start)
        runs = 0
        for minute in range(26 * 60):       # walk the whole day a minute at a time
            got, missed = tt.due(start + 60 * minute)
            assert not missed
            runs += len(got)
        assert runs == 1, day
