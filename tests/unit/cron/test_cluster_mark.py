"""``cluster="once"`` on ``skitai.cron()`` and the same mark on ``[:crontab]`` lines."""

from __future__ import annotations

import pytest

from skitai.cron import schedule
from skitai.errors import ConfigError


def test_cron_call_takes_cluster_once() -> None:
    job = schedule.parse_job("* * * * * */2", "backup.sh", "app.py:3", cluster="once")
    assert (job.cluster, job.command, job.spec) == ("once", "backup.sh", "* * * * * */2")
    assert schedule.parse_job("* * * * *", "x").cluster is None


def test_a_bad_cluster_value_is_named() -> None:
    with pytest.raises(ConfigError, match="app.py:3: cron cluster is 'once'"):
        schedule.parse_job("* * * * *", "x", "app.py:3", cluster="twice")


def test_crontab_lines_carry_the_mark() -> None:
    jobs = schedule.parse_crontab([("*/5 * * * * cluster=once /usr/bin/backup.sh -q", 4),
                                   ("* * * * * */2 cluster=once echo hi", 5),
                                   ("@daily /usr/bin/rotate", 6),
                                   ("0 3 * * * clusterx=once echo not-a-mark", 7)], "skitai.conf")
    assert [(j.cluster, j.command) for j in jobs] == [
        ("once", "/usr/bin/backup.sh -q"), ("once", "echo hi"), (None, "/usr/bin/rotate"),
        (None, "clusterx=once echo not-a-mark")]
