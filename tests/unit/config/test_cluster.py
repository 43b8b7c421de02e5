"""``skitai.enable_cluster()`` and ``[cluster]`` into ``ServerConfig.cluster`` (issue 17)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from skitai import api
from skitai.config import conffile
from skitai.config.cluster import redact
from skitai.errors import ConfigError


@pytest.fixture(autouse=True)
def fresh():
    api.reset()
    yield
    api.reset()


def test_without_it_nothing_changes() -> None:
    config = api.draft().freeze(env={})
    assert config.cluster is None
    assert [d.name for d in config.daemons] == []


def test_enable_cluster_adds_the_cluster_daemon_on_the_daemon_interface() -> None:
    api.enable_cluster("rediss://cache.example:6380/2", name="shop", heartbeat=1.5)
    config = api.draft().freeze(env={"SKITAI_CLUSTER_PASSWORD": "s3cret"})
    assert config.cluster is not None
    assert (config.cluster.url, config.cluster.name, config.cluster.heartbeat) == (
        "rediss://cache.example:6380/2", "shop", 1.5)
    assert config.cluster.password == "s3cret"
    assert "s3cret" not in repr(config.cluster)
    (spec,) = config.daemons
    assert (spec.name, spec.entry) == ("cluster", "skitai.cluster.daemon:main")
    assert pickle.loads(pickle.dumps(config)).cluster == config.cluster


def test_bad_calls_are_named() -> None:
    with pytest.raises(ConfigError, match="scheme"):
        api.enable_cluster("http://127.0.0.1:6379")
    with pytest.raises(ConfigError, match="cluster name"):
        api.enable_cluster("redis://127.0.0.1", name="a b")
    with pytest.raises(ConfigError, match="SKITAI_CLUSTER_PASSWORD"):
        api.enable_cluster("redis://127.0.0.1", password="x")
    with pytest.raises(ConfigError, match="unknown option"):
        api.enable_cluster("redis://127.0.0.1", colour="red")
    with pytest.raises(ConfigError, match="max_queue is a whole number"):
        api.enable_cluster("redis://127.0.0.1", max_queue=0)


def test_the_section_supplies_the_password_from_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "skitai.conf"
    path.write_text("[cluster]\nurl = redis://10.0.0.5:6379/1\npassword = pw\nheartbeat = 3\n")
    path.chmod(0o600)
    api.enable_cluster("redis://127.0.0.1:6379/0", name="shop")
    config = api.draft().freeze(conf=conffile.read(str(path)), env={})
    assert config.cluster is not None
    # app.py's URL wins; the file fills the rest.
    assert (config.cluster.url, config.cluster.password, config.cluster.heartbeat) == (
        "redis://127.0.0.1:6379/0", "pw", 3.0)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        api.draft().freeze(conf=conffile.read(str(path)), env={})


def test_a_section_alone_enables_it_and_bad_keys_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "skitai.conf"
    path.write_text("[cluster]\nurl = redis://10.0.0.5:6379/1\nname = shop\n")
    config = api.draft().freeze(conf=conffile.read(str(path)), env={})
    assert config.cluster is not None and config.cluster.name == "shop"
    path.write_text("[cluster]\nurl = redis://10.0.0.5:6379/1\ncolour = red\n")
    with pytest.raises(ConfigError, match=r"skitai.conf:3: unknown key 'colour' in \[cluster\]"):
        api.draft().freeze(conf=conffile.read(str(path)), env={})


def test_redact_hides_a_password_in_a_url() -> None:
    assert redact("redis://u:pw@h:1/0") == "redis://u:***@h:1/0"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_max_queue_from_app_py_or_the_section(tmp_path: Path) -> None:
    assert api.draft().freeze(env={}).cluster is None
    api.enable_cluster("redis://127.0.0.1:6379/0", name="shop", max_queue=50)
    config = api.draft().freeze(env={})
    assert config.cluster is not None and config.cluster.max_queue == 50
    api.reset()
    path = tmp_path / "skitai.conf"
    path.write_text("[cluster]\nurl = redis://10.0.0.5:6379/1\nmax-queue = 7\n")
    config = api.draft().freeze(conf=conffile.read(str(path)), env={})
    assert config.cluster is not None and config.cluster.max_queue == 7
    path.write_text("[cluster]\nurl = redis://10.0.0.5:6379/1\nmax-queue = 0\n")
    with pytest.raises(ConfigError, match="max-queue"):
        api.draft().freeze(conf=conffile.read(str(path)), env={})
