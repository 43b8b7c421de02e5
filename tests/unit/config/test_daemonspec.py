"""``DaemonSpec``: one model for enable_daemon(), [daemon:NAME] and entry points; errors
name the source and the key; ``after=`` orders starts and finds cycles."""

from __future__ import annotations

import pytest

from skitai.config import conffile, daemonspec
from skitai.config.builder import Builder
from skitai.errors import ConfigError


def test_entry_or_command_and_supervision_options() -> None:
    spec = daemonspec.build("ticker", "tickd:main", {"stop_timeout": "5", "greeting": "hi"}, "app.py:3")
    assert (spec.kind, spec.entry, spec.stop_timeout, spec.config()) == (
        "python", "tickd:main", 5.0, {"greeting": "hi"})
    cmd = daemonspec.build("sleeper", ["sleep", "3600"], {"restart": "on-failure", "env": {"A": "1"},
                                                      "stop-signal": "sigint"}, "app.py:4")
    assert (cmd.kind, cmd.command, cmd.restart, cmd.env, cmd.stop_signal) == (
        "command", ("sleep", "3600"), "on-failure", (("A", "1"),), "INT")
    assert daemonspec.build("x", "/bin/prog --flag 'a b'", {}, "s").command == ("/bin/prog", "--flag", "a b")


@pytest.mark.parametrize(("target", "options", "message"), [
    ("tickd:main", {"restart": "sometimes"}, "bad restart: restart is one of always"),
    ("tickd:main", {"count": 0}, "bad count: must be >= 1"),
    ("tickd:main", {"stop_signal": "NOPE"}, "unknown signal 'NOPE'"),
    (None, {}, "no entry or command, and no installed package"),
    (None, {"entry": "a:b", "command": "ls"}, "an entry or a command, not both"),
    ("mod:", {}, "an entry is .package.module:function."),
])
def test_bad_declarations_name_the_source(target: object, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        daemonspec.build("nosuch-daemon", target, options, "app.py:9")
    assert "app.py:9" in str(info.value)


def test_builtins_resolve_by_name() -> None:
    assert daemonspec.build("spooler", None, {"count": 2}, "s", daemonspec.installed).entry == \
        "skitai.spooler.daemon:main"
    assert daemonspec.installed("no-such-daemon-anywhere") is None


def test_after_orders_starts_and_rejects_cycles_and_unknown_names() -> None:
    a = daemonspec.build("a", "m:a", {"after": "b"}, "s")
    b = daemonspec.build("b", "m:b", {}, "s")
    c = daemonspec.build("c", "m:c", {"after": ["a", "b"]}, "s")
    assert [s.name for s in daemonspec.order([c, a, b])] == ["b", "a", "c"]
    assert daemonspec.rank([a, b, c]) == {"b": 0, "a": 1, "c": 2}
    with pytest.raises(ConfigError, match="cycle: a -> b -> a"):
        daemonspec.order([a, daemonspec.build("b", "m:b", {"after": "a"}, "s")])
    with pytest.raises(ConfigError, match="starts after 'b', which is not enabled"):
        daemonspec.order([a])


def test_app_py_wins_over_the_section_key_by_key() -> None:
    conf = conffile.parse_text("[daemon:ticker]\nentry = other:main\ncount = 3\ngreeting = conf\n"
                               "stop-timeout = 7\n", "/etc/s.conf")
    b = Builder()
    b.daemons["ticker"] = ("tickd:main", {"greeting": "app"}, "app.py:2")
    (spec,) = b.freeze(conf=conf, env={}).daemons
    assert (spec.entry, spec.count, spec.stop_timeout) == ("tickd:main", 3, 7.0)
    assert spec.config() == {"greeting": "app"}
    bad = conffile.parse_text("[daemon:x]\ncommand = ls\nrestart = maybe\n", "/etc/s.conf")
    with pytest.raises(ConfigError, match=r"/etc/s.conf:3 \[daemon:x\]: daemon 'x': bad restart"):
        Builder().freeze(conf=bad, env={})
