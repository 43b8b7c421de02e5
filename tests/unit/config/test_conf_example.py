"""``etc/skitai.conf.example`` documents every key the readers accept, and every key it
documents is accepted (with the example value) by the reader of its section."""

from __future__ import annotations

import re
from pathlib import Path

from skitai.config import builder, cluster, conffile, daemons
from skitai.cron import main as cron_main
from skitai.cron import schedule

EXAMPLE = Path(__file__).resolve().parents[3] / "etc" / "skitai.conf.example"
KEY_LINE = re.compile(r"^#?\s*([a-z][a-z0-9_-]*)\s*=")


def _uncommented(tmp_path: Path) -> Path:
    """The example with every documented key and crontab line switched on."""
    out, section = [], None
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            out.append(line)
        elif section == ":crontab" and line.startswith("# ") and \
                (re.match(r"# [*@0-9]", line) or re.match(r"# [A-Z_]+=", line)):
            out.append(line[2:])
        elif section and section != ":crontab" and KEY_LINE.match(line):
            out.append(line.lstrip("# "))
        else:
            out.append(line)
    path = tmp_path / "skitai.conf"
    path.write_text("\n".join(out) + "\n")
    path.chmod(0o600)  # it holds a password now
    return path


def _documented() -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    section = None
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
            keys.setdefault(section, set())
        elif section and section != ":crontab":
            m = KEY_LINE.match(line)
            if m:
                keys[section].add(conffile.normalize_key(m.group(1)))
    return keys


def test_every_accepted_key_is_documented() -> None:
    doc = _documented()
    assert set(doc) == {"common", "smtpda", "cron", "cluster", ":crontab"}
    assert doc["cluster"] == set(cluster.KEYS)
    assert doc["common"] == set(builder._CONF_KEYS) | builder._COMMON_EXTRA
    assert doc["smtpda"] == set(daemons.SMTPDA_KEYS)
    assert doc["cron"] == set(cron_main.CRON_KEYS)


def test_every_documented_key_is_accepted_with_its_example_value(tmp_path: Path) -> None:
    conf = conffile.read(str(_uncommented(tmp_path)))
    assert len(conf.section("common")) == len(_documented()["common"])
    config = builder.Builder().freeze(conf=conf, env={})
    assert config.workers == 1 and config.max_client_body_size == 64 << 20
    smtpda = daemons.config_from_conf(conf)
    assert smtpda.user == "mailer" and smtpda.max_retry == 10
    settings = cron_main.read_settings(conf)
    assert settings.timezone == "Asia/Seoul" and settings.kill_grace == 5
    jobs = schedule.crontab_jobs(conf)
    assert [j.spec for j in jobs] == ["*/2 */2 * * *", "9 2/12 * * *", "@daily", "30 3 * * *"]
    assert [j.cluster for j in jobs] == [None, None, None, "once"]
    assert config.cluster is not None and config.cluster.password == "secret"
    assert all(("PATH", "/usr/local/bin:/usr/bin:/bin") in j.env for j in jobs)


def test_the_shipped_example_as_is_is_valid() -> None:
    conf = conffile.read(str(EXAMPLE))
    builder.Builder().freeze(conf=conf, env={})
    daemons.config_from_conf(conf)
    cron_main.read_settings(conf)
    assert schedule.crontab_jobs(conf) == []


def test_the_daemon_section_documents_every_supervision_key(tmp_path: Path) -> None:
    from skitai.config import daemonspec

    lines = EXAMPLE.read_text().splitlines()
    block = lines[lines.index("# [daemon:exporter]"):]
    keys = {conffile.normalize_key(m.group(1)) for line in block if (m := KEY_LINE.match(line))}
    assert keys == set(daemonspec.SUPERVISION)
    # Uncommented (the command instead of the entry), it is a valid daemon.
    text = "\n".join(line[2:] for line in block if line.startswith("# [") or
                     (KEY_LINE.match(line) and not line.startswith(("# entry", "# after"))))
    path = tmp_path / "d.conf"
    path.write_text(text + "\n")
    config = builder.Builder().freeze(conf=conffile.read(str(path)), env={})
    (spec,) = config.daemons
    assert spec.name == "exporter" and spec.command == ("/usr/local/bin/exporter", "--port", "9200")
    assert spec.max_rss == 512 << 20 and spec.env == (("LANG", "C.UTF-8"),)
