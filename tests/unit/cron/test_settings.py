"""[common] < [cron] < command line for the cron daemon's settings; job naming."""

from __future__ import annotations

import pytest

from skitai.config import conffile
from skitai.cron import main, schedule
from skitai.errors import ConfigError

CONF = """\
[common]
log-path = /var/log/common
var-path = /var/run/common
port = 5000

[cron]
log-path = /var/log/cron
verbose = yes
timezone = Europe/Berlin
timeout = 90
catch-up = 300
process-display-name = my-cron

[:crontab]
@daily /usr/bin/backup.sh
0 * * * * /usr/bin/backup.sh --hourly
"""


def test_precedence_common_cron_cli() -> None:
    conf = conffile.parse_text(CONF, "/etc/s.conf")
    s = main.read_settings(conf, var_path="/cli/var")
    assert (s.log_path, s.var_path, s.verbose, s.title) == ("/var/log/cron", "/cli/var", True,
                                                             "my-cron")
    assert (s.timezone, s.timeout, s.grace) == ("Europe/Berlin", 90.0, 300.0)
    assert main.read_settings(None).grace == schedule.DEFAULT_GRACE


def test_empty_value_means_unset_and_zero_timeout_means_none() -> None:
    conf = conffile.parse_text("[common]\nlog-path =\n[cron]\ntimeout = 0\n", "/x.conf")
    s = main.read_settings(conf)
    assert s.log_path is None and s.timeout is None


@pytest.mark.parametrize(("body", "where"), [
    ("[cron]\nverbose = maybe\n", "/x.conf:2"),
    ("[cron]\n\ncatch-up = -1\n", "/x.conf:3"),
    ("[cron]\nmax-retry = 3\n", "/x.conf:2"),     # an [smtpda] key is not a [cron] key
])
def test_bad_values_name_file_and_line(body: str, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        main.read_settings(conffile.parse_text(body, "/x.conf"))


def test_crontab_jobs_get_unique_names() -> None:
    conf = conffile.parse_text(CONF, "/etc/s.conf")
    jobs = main.unique_names(schedule.crontab_jobs(conf))
    assert [j.name for j in jobs] == ["backup.sh", "backup.sh#2"]
    assert [j.source for j in jobs] == ["/etc/s.conf:15", "/etc/s.conf:16"]
    assert schedule.crontab_jobs(conffile.parse_text("[cron]\n", "/e.conf")) == []
