"""Cron schedules: parsing specs and crontab lines, and deciding which jobs are due.

Pure code (layer 2): no processes, no asyncio; time comes in as an argument (epoch
seconds), so every rule below is tested on an injected clock.

Theory
------
* Specs are croniter's: ``m h dom mon dow`` with ``*``, ``a-b``, ``*/n``, ``a-b/n``, lists,
  month and weekday names, ``L``; day-of-month and day-of-week are ORed when both are
  restricted (standard cron; the original skitai ANDed them).  Macros: ``@hourly``,
  ``@daily``/``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``/``@annually`` and
  ``@reboot`` (once, each time the cron daemon starts).
* A sixth field is allowed and means *seconds* (croniter's order: ``m h dom mon dow s``),
  e.g. ``* * * * * */2`` every two seconds.  Useful for tests and short polls.  In a
  crontab line the sixth word counts as the seconds field only when it is made of
  ``0-9 * , - /`` alone; anything else starts the command.  A seventh (year) field is
  refused.
* Times are wall-clock times in the job's zone (``timezone=``/``CRON_TZ=``, else the
  daemon's ``timezone`` key, else the local zone).  DST: a time skipped by the spring
  change runs once, at the first instant after the gap (croniter, as Vixie cron); a time
  repeated by the autumn change runs once, on its first pass, for a job whose minute and
  hour fields are both fixed; jobs with ``*`` in the minute or hour field keep firing
  through the repeated hour (Vixie cron's rule for "wildcard" jobs).
* Catch-up policy (``Timetable.due``): each job keeps its next fire time.  When the clock
  passes it, every slot missed since (suspend, a busy loop, the clock set forward) is
  coalesced into one run for the most recent slot, and only if that slot is at most
  ``grace`` seconds old (default 60); otherwise the slots are logged as missed and
  skipped.  A slot is never run twice: when the clock is set back, the next fire time
  stays where it was, so the slots already run are not replayed; only a jump back of
  more than ``BACKWARD_RESET`` (3 hours, Vixie cron's limit) restarts the schedule from the
  new time, since the old clock was plainly wrong.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from skitai.config import conffile
from skitai.config.daemons import CronJob
from skitai.errors import ConfigError

REBOOT = "@reboot"
MACROS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
DEFAULT_GRACE = 60.0
BACKWARD_RESET = 3 * 3600.0
# Slots walked one by one before giving up and jumping (a second-level spec after a
# long suspend would otherwise loop millions of times).
_MAX_WALK = 1000
_SECONDS_FIELD = re.compile(r"^[0-9*,/\-]+$")
_ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


# --- zones ------------------------------------------------------------------------------------


def local_zone() -> tzinfo:
    """The local zone with its DST rules (``TZ``, else ``/etc/localtime``); a fixed offset
    would be wrong half the year."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        pass
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def zone(name: str | None, source: str | None = None) -> tzinfo:
    if not name:
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}unknown time zone {name!r}", key="timezone") from None


# --- one schedule -----------------------------------------------------------------------------


class Schedule:
    """A validated spec in a zone; ``next_after(t)`` is the first fire time strictly after
    epoch ``t`` (``None`` for ``@reboot``)."""

    def __init__(self, spec: str, tz: tzinfo, source: str | None = None) -> None:
        self.spec = " ".join(spec.split())
        self.tz = tz
        self.reboot = self.spec.lower() == REBOOT
        expr = MACROS.get(self.spec.lower(), self.spec)
        fields = expr.split()
        where = f"{source}: " if source else ""
        if not self.reboot:
            if len(fields) not in (5, 6):
                raise ConfigError(
                    f"{where}cron spec {spec!r} has {len(fields)} fields; expected "
                    "'m h dom mon dow', a sixth seconds field, or @hourly/@daily/@weekly/"
                    "@monthly/@yearly/@reboot", key="cron")
            if not _valid(expr):
                raise ConfigError(f"{where}invalid cron spec {spec!r}", key="cron")
        self.expr = expr
        self.has_seconds = len(fields) == 6
        # Vixie cron's "wildcard job": minute or hour starts with '*'; such jobs keep
        # running through a repeated (autumn) hour, fixed-time jobs run only once.
        self.wildcard = len(fields) >= 2 and (fields[0].startswith("*") or fields[1].startswith("*"))

    def __repr__(self) -> str:
        return f"Schedule({self.spec!r}, {self.tz})"

    def next_after(self, t: float) -> float | None:
        if self.reboot:
            return None
        it = croniter(self.expr, datetime.fromtimestamp(t, self.tz))
        while True:
            when: datetime = it.get_next(datetime)
            if self.wildcard or not _second_pass(when):
                return when.timestamp()

    def latest_at_or_before(self, t: float) -> float | None:
        """The last slot ``<= t`` (slots are whole seconds)."""
        if self.reboot:
            return None
        it = croniter(self.expr, datetime.fromtimestamp(math.floor(t) + 1, self.tz), is_prev=True)
        when: datetime = it.get_prev(datetime)
        return when.timestamp()


def _valid(expr: str) -> bool:
    try:
        return bool(croniter.is_valid(expr, strict=True))  # out-of-range days refused
    except TypeError:  # croniter before strict=
        return bool(croniter.is_valid(expr))


def _second_pass(when: datetime) -> bool:
    """True when ``when`` is the later of two instants sharing its wall-clock time."""
    first = when.replace(fold=0)
    return first.utcoffset() != when.replace(fold=1).utcoffset() and when.timestamp() > first.timestamp()


# --- jobs from skitai.cron() and crontab lines ------------------------------------------------


def parse_job(
    spec: str,
    command: str,
    source: str | None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    timezone: str | None = None,
    cluster: str | None = None,
) -> CronJob:
    """Validate ``skitai.cron(spec, command, ...)`` arguments into a ``CronJob``; a
    ``ConfigError`` names ``source`` (``app.py:12`` or ``file:line``)."""
    where = f"{source}: " if source else ""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{where}cron spec must be a non-empty string, got {spec!r}", key="cron")
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(f"{where}cron command must be a non-empty string, got {command!r}",
                          key="cron")
    Schedule(spec, zone(timezone, source), source)
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(f"{where}cron timeout must be seconds > 0, got {timeout!r}",
                              key="timeout")
        timeout = float(timeout)
    pairs = tuple((env.items() if isinstance(env, Mapping) else env) or ())
    for key, value in pairs:
        if not isinstance(key, str) or not _ENV_LINE.match(f"{key}=") or not isinstance(value, str):
            raise ConfigError(f"{where}cron env entries are NAME=str, got {key!r}={value!r}",
                              key="env")
    if cwd is not None and not isinstance(cwd, str):
        raise ConfigError(f"{where}cron cwd must be a path, got {cwd!r}", key="cwd")
    if cluster not in (None, "once"):
        raise ConfigError(f"{where}cron cluster is 'once' (one host of the cluster per fire) "
                          f"or None (every host), got {cluster!r}", key="cluster")
    return CronJob(
        spec=" ".join(spec.split()), command=command.strip(), name=name or job_name(command),
        timeout=timeout, cwd=cwd, source=source, env=tuple(pairs), timezone=timezone or None,
        cluster=cluster,
    )


def job_name(command: str) -> str:
    """A short name for the log: the program's base name (``/usr/bin/backup.sh`` -> ``backup.sh``)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for word in words:
        if not _ENV_LINE.match(word):  # skip leading "FOO=bar" assignments
            return os.path.basename(word) or word
    return command.strip()[:32]


def split_line(line: str, source: str | None = None) -> tuple[str, str]:
    """``"m h dom mon dow [s] command"`` or ``"@daily command"`` -> ``(spec, command)``."""
    where = f"{source}: " if source else ""
    text = line.strip()
    if text.startswith("@"):
        head, _, command = text.partition(" ")
        words = [head]
    else:
        parts = text.split(None, 6)
        if len(parts) < 6:
            raise ConfigError(f"{where}crontab line needs 'm h dom mon dow command', got {text!r}",
                              key="crontab")
        if len(parts) == 7 and _SECONDS_FIELD.match(parts[5]):
            words, command = parts[:6], parts[6]
        else:
            words, command = parts[:5], text.split(None, 5)[5]
    if not command.strip():
        raise ConfigError(f"{where}crontab line has no command: {text!r}", key="crontab")
    return " ".join(words), command.strip()


def parse_line(line: str, source: str | None = None, *, env: Sequence[tuple[str, str]] = (),
               timezone: str | None = None) -> CronJob:
    spec, command = split_line(line, source)
    # "cluster=once" first in the command is skitai's mark, as skitai.cron(cluster="once").
    cluster = None
    if command.split(None, 1)[0] == CLUSTER_MARK:
        cluster, command = "once", command[len(CLUSTER_MARK):].strip()
    return parse_job(spec, command, source, env=env, timezone=timezone, cluster=cluster)


CLUSTER_MARK = "cluster=once"


def parse_crontab(lines: Iterable[tuple[str, int]], path: str, *,
                  timezone: str | None = None) -> list[CronJob]:
    """The ``[:crontab]`` section: job lines plus crontab's ``NAME=value`` lines, which set
    the environment of the jobs after them, and ``CRON_TZ=Zone``, which sets their zone."""
    env: dict[str, str] = {}
    jobs: list[CronJob] = []
    for text, lineno in lines:
        source = f"{path}:{lineno}"
        match = _ENV_LINE.match(text)
        if match:
            key, value = match.group(1), _unquote(match.group(2))
            if key == "CRON_TZ":
                zone(value, source)
                timezone = value or None
            else:
                env[key] = value
            continue
        jobs.append(parse_line(text, source, env=tuple(env.items()), timezone=timezone))
    return jobs


def crontab_jobs(conf: conffile.ConfFile) -> list[CronJob]:
    """The jobs of a config file's ``[:crontab]`` section (empty when it has none)."""
    return parse_crontab(conf.raw.get("crontab", []), conf.path)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


# --- the timetable ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fire:
    index: int  # position of the job in the timetable
    slot: float  # the scheduled time being run (epoch)
    coalesced: int  # older missed slots folded into this run


@dataclass(frozen=True)
class Missed:
    index: int
    slot: float  # the most recent missed slot
    count: int  # slots skipped


class Timetable:
    """Next fire time per schedule, and the catch-up policy described at the top."""

    def __init__(self, schedules: Sequence[Schedule], now: float, *,
                 grace: float = DEFAULT_GRACE) -> None:
        self.schedules = list(schedules)
        self.grace = grace
        self.next_fire: list[float | None] = [s.next_after(now) for s in self.schedules]

    def reboot(self) -> list[int]:
        return [i for i, s in enumerate(self.schedules) if s.reboot]

    def next_wakeup(self) -> float | None:
        times = [t for t in self.next_fire if t is not None]
        return min(times) if times else None

    def due(self, now: float) -> tuple[list[Fire], list[Missed]]:
        fires: list[Fire] = []
        missed: list[Missed] = []
        for i, sched in enumerate(self.schedules):
            planned = self.next_fire[i]
            if planned is None:
                continue
            if now < planned:
                fresh = sched.next_after(now)
                if fresh is not None and fresh < planned and planned - now > BACKWARD_RESET:
                    self.next_fire[i] = fresh  # the clock went far back: start again from now
                continue
            latest, count, upcoming = planned, 1, sched.next_after(planned)
            while upcoming is not None and upcoming <= now and count < _MAX_WALK:
                latest, count, upcoming = upcoming, count + 1, sched.next_after(upcoming)
            if upcoming is not None and upcoming <= now:  # far behind: jump
                latest = sched.latest_at_or_before(now) or latest
                upcoming = sched.next_after(now)
            self.next_fire[i] = upcoming
            if now - latest <= self.grace:
                fires.append(Fire(i, latest, count - 1))
            else:
                missed.append(Missed(i, latest, count))
        return fires, missed
