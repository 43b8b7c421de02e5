from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

import skitai
from skitai import api
from skitai.config import aliases, conffile
from skitai.config.aliases import parse_member
from skitai.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh_draft():
    api.reset()
    yield
    api.reset()


def _freeze(conf: conffile.ConfFile | None = None, env: dict[str, str] | None = None):
    return api.draft().freeze(conf=conf, env=env or {})


@pytest.mark.parametrize(("text", "host", "port", "weight", "user", "password"), [
    ("127.0.0.1:8001 1", "127.0.0.1", 8001, 1, None, None),
    ("127.0.0.1:8002 3", "127.0.0.1", 8002, 3, None, None),
    ("username:password@members.example.com:5001", "members.example.com", 5001, 1,
     "username", "password"),
    ("u:p%40ss@h:1 2", "h", 1, 2, "u", "p@ss"),
    ("members.example.com", "members.example.com", 80, 1, None, None),
    ("[::1]:5000", "::1", 5000, 1, None, None),
    ("[fe80::1%eth0]:80 4", "fe80::1%eth0", 80, 4, None, None),
    ("Host.Example.com:81", "host.example.com", 81, 1, None, None),
])
def test_http_member_forms(text, host, port, weight, user, password) -> None:
    m = parse_member(text, "http", where="t")
    assert (m.host, m.port, m.weight, m.user, m.password) == (host, port, weight, user, password)
    assert not m.ssl and m.unix is None


def test_url_unix_and_https_members() -> None:
    m = parse_member("https://api.example.com:8443/v1", "http", where="t")
    assert (m.type, m.host, m.port, m.ssl, m.prefix) == ("https", "api.example.com", 8443, True, "/v1")
    assert m.netloc == "api.example.com:8443"
    m = parse_member("https://api.example.com", "http", where="t")
    assert (m.port, m.netloc) == (443, "api.example.com")
    m = parse_member("unix:/run/app.sock 2", "http", where="t")
    assert (m.unix, m.weight, m.label) == ("/run/app.sock", 2, "unix:/run/app.sock")
    m = parse_member("[::1]:5000", "http", where="t")
    assert m.netloc == "[::1]:5000" and m.label == "[::1]:5000"
    # PROTO_HTTPS members use TLS and port 443 by default
    alias = aliases.make("@s", skitai.PROTO_HTTPS, "members.example.com", where="t")
    assert alias.ssl and alias.members[0].ssl and alias.members[0].port == 443


def test_database_members() -> None:
    m = parse_member("postgres:1234@172.30.0.1:5432/test 20", "postgresql", where="t")
    assert (m.user, m.password, m.host, m.port, m.database, m.weight) == (
        "postgres", "1234", "172.30.0.1", 5432, "test", 20)
    # the seed's slash form host:port/db/user/password
    m = parse_member("172.30.0.1:5432/test/postgres/1234", "postgresql", where="t")
    assert (m.user, m.password, m.database) == ("postgres", "1234", "test")
    m = parse_member("127.0.0.1/2", "redis", where="t")
    assert (m.port, m.database) == (6379, "2")
    m = parse_member("/var/tmp/db1", "sqlite3", where="t")
    assert m.path == "/var/tmp/db1" and m.label == "/var/tmp/db1"
    m = parse_member("rel/db2 3", "sqlite3", where="t")
    assert m.path == os.path.abspath("rel/db2") and m.weight == 3


def test_password_from_the_environment() -> None:
    m = parse_member("app:${DB_PW}@h:5432/main", "postgresql", where="t", env={"DB_PW": "s3"})
    assert m.password == "s3"
    with pytest.raises(ConfigError, match="DB_PW is not set"):
        parse_member("app:${DB_PW}@h:5432/main", "postgresql", where="t", env={})


def test_password_never_in_repr_or_errors() -> None:
    m = parse_member("u:topsecret@h:1", "http", where="t")
    assert "topsecret" not in repr(m)
    with pytest.raises(ConfigError) as err:
        skitai.alias("@db", skitai.DB_PGSQL, ["u:topsecret@h:notaport/db"])
    assert "topsecret" not in str(err.value) and "u:***@h:notaport/db" in str(err.value)


@pytest.mark.parametrize(("text", "reason"), [
    ("h:x", "port must be a number"),
    ("::1:5000", "IPv6"),
    ("[::1:5000", "closing"),
    ("[zz::1]:5000", "not an IPv6"),
    ("h:5000 0", "weight must be >= 1"),
    ("h:99999", "1..65535"),
    ("h 1 2", "address \\[weight\\]"),
    ("unix:run.sock", "absolute"),
    ("ftp://h", "URL member"),
])
def test_bad_members_name_call_and_member(text, reason) -> None:
    with pytest.raises(ConfigError, match=reason) as err:
        skitai.alias("@m", skitai.PROTO_HTTP, ["127.0.0.1:1", text])
    message = str(err.value)
    assert "skitai.alias(name='@m'" in message and "member 2" in message
    assert "test_aliases.py:" in message


def test_types_role_and_source() -> None:
    assert skitai.PGSQL == skitai.DB_PGSQL == skitai.DB_POSTGRESQL
    with pytest.raises(ConfigError, match="unknown alias type 'gopher'"):
        skitai.alias("@m", "gopher", ["h:1"])
    a = aliases.make("@members", "https", "members.example.com", role="admin",
                     source="172.30.1.0/24,192.168.1/24, fd00::/8", where="t")
    assert a.name == "members" and a.roles == ("admin",)
    assert a.sources == ("172.30.1.0/24", "192.168.1.0/24", "fd00::/8")
    assert a.allows("192.168.1.77") and a.allows("::ffff:172.30.1.9") and a.allows("fd00::5")
    assert not a.allows("10.0.0.1") and not a.allows("fe80::1") and not a.allows("junk")
    assert aliases.make("@o", "http", "h", where="t").allows("8.8.8.8")
    with pytest.raises(ConfigError, match="not a network"):
        aliases.make("@m", "http", "h", source="10.0.0.0/99", where="t")


def test_alias_frozen_into_config_and_mounted() -> None:
    skitai.alias("@members", skitai.PROTO_HTTP, ["127.0.0.1:8001 1", "127.0.0.1:8002 3"])
    skitai.alias("@admin", skitai.PROTO_HTTP, ["127.0.0.1:8001"], role="admin")
    skitai.mount("/members", "@members")
    cfg = _freeze()
    assert [a.name for a in cfg.aliases] == ["members", "admin"]
    assert [m.weight for m in aliases.find(cfg.aliases, "@members").members] == [1, 3]
    mount = cfg.mounts[0]
    assert (mount.kind, mount.target, mount.point) == ("alias", "@members", "/members")
    again = pickle.loads(pickle.dumps(cfg))
    assert again.aliases == cfg.aliases


def test_mount_of_unknown_or_database_alias_is_refused() -> None:
    skitai.mount("/x", "@nope")
    with pytest.raises(ConfigError, match="no such alias"):
        _freeze()
    api.reset()
    skitai.alias("@db", skitai.DB_SQLITE3, ["/tmp/x.db"])
    skitai.mount("/db", "@db")
    with pytest.raises(ConfigError, match="cannot be proxied"):
        _freeze()
    api.reset()
    skitai.alias("@a", "http", "h:1")
    skitai.alias("a", "http", "h:2")
    with pytest.raises(ConfigError, match="declared twice"):
        _freeze()


def test_config_file_sections(tmp_path: Path) -> None:
    path = tmp_path / "skitai.conf"
    path.write_text("[common]\nport = 5000\n\n[@mydb]\ntype = postgresql\n"
                    "members = app@10.0.0.2:5432/main 2, app@10.0.0.3:5432/main\n"
                    "password = ${DB_PW}\n\n[@web]\ntype = http\nmembers = [::1]:5001\n"
                    "source = ::1/128\n")
    conf = conffile.read(str(path))
    with pytest.raises(ConfigError, match=r"skitai.conf:7: \[@mydb\] password: .* DB_PW is not set"):
        api.draft().freeze(conf=conf, env={})
    cfg = api.draft().freeze(conf=conf, env={"DB_PW": "pw-from-env"})
    db = aliases.find(cfg.aliases, "mydb")
    assert [(m.host, m.weight, m.password) for m in db.members] == [
        ("10.0.0.2", 2, "pw-from-env"), ("10.0.0.3", 1, "pw-from-env")]
    assert aliases.find(cfg.aliases, "@web").sources == ("::1/128",)


def test_config_file_password_needs_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "skitai.conf"
    path.write_text("[@mydb]\ntype = postgresql\nmembers = app@h/main\npassword = secret\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        api.draft().freeze(conf=conffile.read(str(path)), env={})
    path.chmod(0o600)
    # app.py's alias of the same name wins, its password-less members take the file's secret
    skitai.alias("@mydb", skitai.DB_PGSQL, ["app@127.0.0.1:5432/test"])
    cfg = api.draft().freeze(conf=conffile.read(str(path)), env={})
    (m,) = aliases.find(cfg.aliases, "mydb").members
    assert (m.host, m.password) == ("127.0.0.1", "secret")


def test_config_file_section_errors(tmp_path: Path) -> None:
    path = tmp_path / "skitai.conf"
    path.write_text("[@web]\ntype = http\nmembers = h:1, h:x\n")
    with pytest.raises(ConfigError, match=r"skitai.conf:2: \[@web\]: member 2 'h:x'"):
        api.draft().freeze(conf=conffile.read(str(path)), env={})
    path.write_text("[@web]\ntype = http\nmembrs = h:1\n")
    with pytest.raises(ConfigError, match="unknown key 'membrs'"):
        api.draft().freeze(conf=conffile.read(str(path)), env={})


def test_mount_proxy_host_option() -> None:
    skitai.alias("@members", skitai.PROTO_HTTP, ["127.0.0.1:8001"])
    skitai.mount("/a", "@members")
    skitai.mount("/b", "@members", proxy_host="$host")
    skitai.mount("/c", "@members", proxy_host="api.internal:8080")
    cfg = _freeze()
    assert [m.proxy_host for m in cfg.mounts] == [None, "$host", "api.internal:8080"]
    assert pickle.loads(pickle.dumps(cfg)).mounts[2].proxy_host == "api.internal:8080"
    for bad in ("$request_uri", "a b", "x/y", ""):
        with pytest.raises(ConfigError, match="proxy_host"):
            skitai.mount("/d", "@members", proxy_host=bad)
    with pytest.raises(ConfigError, match="alias mount"):
        skitai.mount("/e", str(Path(__file__).parent), proxy_host="$host")


def test_backend_http2_switch_globally_per_alias_and_in_the_file(tmp_path: Path) -> None:
    skitai.alias("@both", skitai.PROTO_HTTPS, "h:443")
    skitai.alias("@h1", skitai.PROTO_HTTPS, "h:443", http2=False)
    cfg = _freeze()
    assert cfg.backend_http2 is True  # the default: h2 offered to https members
    assert aliases.find(cfg.aliases, "@both").http2 is None  # follows the global choice
    assert aliases.find(cfg.aliases, "@h1").http2 is False
    skitai.set_backend_http2(False)
    assert _freeze().backend_http2 is False
    with pytest.raises(ConfigError, match="http2"):
        skitai.alias("@bad", skitai.PROTO_HTTPS, "h:443", http2="no")  # type: ignore[arg-type]
    api.reset()
    path = tmp_path / "skitai.conf"
    path.write_text("[common]\nbackend-http2 = off\n\n[@web]\ntype = https\nmembers = h:443\n"
                    "http2 = yes\n")
    cfg = api.draft().freeze(conf=conffile.read(str(path)), env={})
    assert cfg.backend_http2 is False
    assert aliases.find(cfg.aliases, "@web").http2 is True
