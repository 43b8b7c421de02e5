from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import skitai
from skitai import api
from skitai.config import conffile
from skitai.config.builder import Builder
from skitai.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh_draft():
    api.reset()
    yield
    api.reset()


def test_defaults_are_safe() -> None:
    cfg = Builder().freeze(env={})
    assert cfg.address == "127.0.0.1"  # the original bound 0.0.0.0
    assert cfg.threads == 4 and cfg.workers == 1 and cfg.keep_alive == 30.0


def test_bad_value_names_the_call_and_argument() -> None:
    with pytest.raises(ConfigError) as err:
        skitai.set_keep_alive("soon")
    assert "skitai.set_keep_alive(keep_alive='soon')" in str(err.value)
    assert "test_config.py:" in str(err.value)
    with pytest.raises(ConfigError, match="port must be 0..65535"):
        api.draft().set("port", 70000, "skitai.run(port=70000)")
    with pytest.raises(ConfigError, match="max_age"):
        skitai.set_max_age("/js", -1)
    with pytest.raises(ConfigError, match="mount point"):
        skitai.mount("static", "x")


def test_precedence_file_then_app_then_env_then_cli(tmp_path: Path) -> None:
    conf = conffile.parse_text("[common]\nport = 7000\nthreads = 2\nworkers = 3\nlog-path =\n",
                               str(tmp_path / "c.conf"))
    b = Builder()
    b.set("threads", 8, "app")
    b.set("workers", 2, "app")
    cfg = b.freeze(conf=conf, env={"SKITAI_WORKERS": "5"}, overrides={"port": 7100})
    assert cfg.port == 7100  # command line beats the file
    assert cfg.threads == 8  # app.py beats the file
    assert cfg.workers == 5  # env beats app.py
    assert cfg.logpath is None  # "log-path =" means unset


def test_unknown_conf_key_is_named_with_file_and_line(tmp_path: Path) -> None:
    conf = conffile.parse_text("[common]\nport = 7000\nthreds = 2\n", "/etc/x.conf")
    with pytest.raises(ConfigError, match=r"/etc/x.conf:3: unknown key 'threds' in \[common\]"):
        Builder().freeze(conf=conf, env={})
    conf = conffile.parse_text("[common]\nport = many\n", "/etc/x.conf")
    with pytest.raises(ConfigError, match=r"/etc/x.conf:2: \[common\] port: expected an integer"):
        Builder().freeze(conf=conf, env={})


def test_bad_env_is_named() -> None:
    with pytest.raises(ConfigError, match="environment SKITAI_WORKERS"):
        Builder().freeze(env={"SKITAI_WORKERS": "0"})


def test_mounts_resolve_static_file_and_object(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "app_v1.py").write_text("def app(e, s): pass\n")
    monkeypatch.setattr(api, "getswd", lambda: str(tmp_path))
    skitai.mount("/", "static")
    skitai.mount("/v1", "app_v1", "app")
    skitai.mount("/v1/", "app_v1.py", "app", host="api.example.com")

    def wsgi(environ, start_response):
        return []

    skitai.mount("/obj", wsgi)
    mounts = api.draft().mounts
    assert [(m.point, m.kind) for m in mounts] == [("/", "static"), ("/v1", "app"), ("/v1", "app"),
                                                   ("/obj", "app")]
    assert mounts[1].target == str(tmp_path / "app_v1.py")
    assert mounts[2].host == "api.example.com"
    assert mounts[3].obj is wsgi  # a local function: kept as the object itself
    with pytest.raises(ConfigError, match="no directory or .py file"):
        skitai.mount("/x", "missing")


def test_pref_is_fresh_per_call_and_snapshotted(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "a.py").write_text("app = None\n")
    monkeypatch.setattr(api, "getswd", lambda: str(tmp_path))
    p1, p2 = skitai.pref(), skitai.pref()
    assert p1 is not p2 and p1.config is not p2.config
    p1.debug = True
    p1.config.urlfile = "u.txt"
    p1.config["n"] = 1
    skitai.mount("/a", "a.py", "app", p1)
    p1.config["n"] = 2  # later edits do not leak into the mount
    spec = api.draft().mounts[0]
    assert spec.pref.debug is True and spec.pref.config == {"urlfile": "u.txt", "n": 1}


def test_config_is_frozen_and_picklable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(api, "getswd", lambda: str(tmp_path))
    skitai.mount("/", lambda e, s: [])
    skitai.addlu("users", "posts")
    skitai.log_off("/static/", "*.css")
    cfg = api.draft().freeze(env={})
    with pytest.raises(AttributeError):
        cfg.port = 1  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(cfg))
    assert again.lu_keys == ("users", "posts") and again.log_off == ("/static/", "*.css")
    assert again.mounts[0].obj is None  # runtime objects are not config


def test_skitai_cron_is_callable_even_after_the_package_is_imported() -> None:
    import skitai.cron  # noqa: F401  (rebinds the attribute to the package)

    assert callable(skitai.cron)


def test_import_skitai_stays_cheap() -> None:
    import subprocess
    import sys

    code = ("import sys, skitai; heavy = {'asyncio', 'httptools', 'h2', 'jinja2', 'asyncpg', "
            "'uvloop', 'flask'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_request_limits_from_app_py_and_the_config_file(tmp_path: Path) -> None:
    cfg = Builder().freeze(env={})
    # gunicorn's defaults: limit_request_line, limit_request_fields, limit_request_field_size
    assert (cfg.max_request_line, cfg.max_header_fields, cfg.max_header_field_size) == \
        (4094, 100, 8190)
    skitai.set_request_limits(request_line=2048, header_field_size=4096)
    cfg = api.draft().freeze(env={})
    assert (cfg.max_request_line, cfg.max_header_fields, cfg.max_header_field_size,
            cfg.max_header_bytes) == (2048, 100, 4096, 65536)
    conf = conffile.parse_text("[common]\nmax-header-fields = 50\nmax-header-bytes = 32768\n",
                               str(tmp_path / "c.conf"))
    cfg = Builder().freeze(conf=conf, env={})
    assert (cfg.max_header_fields, cfg.max_header_bytes) == (50, 32768)
    with pytest.raises(ConfigError, match=r"set_request_limits\(header_fields=0\)"):
        skitai.set_request_limits(header_fields=0)
