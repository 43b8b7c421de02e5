"""The compiled router: pure rule compilation, one look-up or one regex per match."""

from __future__ import annotations

import pytest

from skitai.saddle import router
from skitai.saddle.router import Router, Rule, compile_rule


def view(was, **kw):  # noqa: ANN001, ANN003, ANN201
    return kw


def make(*rules: tuple[str, list[str] | None] | str, strict: bool = True) -> Router:
    r = Router()
    for i, spec in enumerate(rules):
        path, methods = (spec, None) if isinstance(spec, str) else spec
        r.add(Rule(path, f"e{i}", view, frozenset(methods) if methods else None, None, strict))
    return r


def test_compile_rule() -> None:
    c = compile_rule("/episode/<int:id>/<name>")
    assert c.format == "/episode/{id}/{name}"
    assert c.regex == r"/episode/(?P<id>\d+)/(?P<name>[^/]+)"
    assert set(c.converters) == {"id", "name"}
    assert c.weights == (0, 50, 100)


@pytest.mark.parametrize("bad", ["nope", "/a/<bogus:x>", "/a/<x>/<x>"])
def test_compile_rule_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        compile_rule(bad)


def test_static_dynamic_and_weights() -> None:
    r = make("/user/<name>", "/user/<int:id>", "/user/me", "/<path:p>")
    m = r.match("/user/me", "GET")
    assert m.kind == router.FOUND and m.rule.endpoint == "e2" and m.params == {}
    m = r.match("/user/42", "GET")
    assert m.rule.endpoint == "e1" and m.params == {"id": 42}
    m = r.match("/user/bob", "GET")
    assert m.rule.endpoint == "e0" and m.params == {"name": "bob"}
    m = r.match("/any/deep/path", "GET")
    assert m.rule.endpoint == "e3" and m.params == {"p": "any/deep/path"}


def test_method_not_allowed_lists_allow() -> None:
    r = make(("/x", ["POST"]), ("/x", ["GET"]), ("/y/<int:n>", ["PUT"]))
    assert r.match("/x", "GET").rule.endpoint == "e1"
    assert r.match("/x", "HEAD").rule.endpoint == "e1"
    m = r.match("/x", "DELETE")
    assert m.kind == router.METHOD_NOT_ALLOWED and m.allow == "GET, HEAD, OPTIONS, POST"
    m = r.match("/y/3", "GET")
    assert m.kind == router.METHOD_NOT_ALLOWED and m.allow == "OPTIONS, PUT"


def test_other_pattern_with_the_method_wins_over_405() -> None:
    r = make(("/a/<int:n>", ["GET"]), ("/a/<name>", ["POST"]))
    m = r.match("/a/5", "POST")
    assert m.kind == router.FOUND and m.rule.endpoint == "e1" and m.params == {"name": "5"}


def test_trailing_slash_rules() -> None:
    r = make("/docs/", "/page", "/d/<int:n>/")
    m = r.match("/docs", "GET")
    assert m.kind == router.REDIRECT and m.location == "/docs/"
    assert r.match("/docs/", "GET").kind == router.FOUND
    assert r.match("/page/", "GET").kind == router.NOT_FOUND
    m = r.match("/d/3", "GET")
    assert m.kind == router.REDIRECT and m.location == "/d/3/"
    loose = make("/docs/", "/page", "/d/<int:n>", strict=False)
    for path in ("/docs", "/docs/", "/page", "/page/", "/d/1", "/d/1/"):
        assert loose.match(path, "GET").kind == router.FOUND, path


def test_build() -> None:
    rule = Rule("/hello/<name>/<int:n>/<path:rest>", "hello", view)
    assert rule.build({"name": "Your Name", "n": 3, "rest": "a/b c"}) == "/hello/Your_Name/3/a/b%20c"
    with pytest.raises(ValueError, match="needs 'n'"):
        rule.build({"name": "x", "rest": "y"})


def test_many_rules_match_without_a_scan() -> None:
    r = make(*[f"/r{i}/<int:id>" for i in range(300)])
    m = r.match("/r299/7", "GET")
    assert m.rule.endpoint == "e299" and m.params == {"id": 7}
    assert r._tables.regex is not None  # one alternation for all dynamic rules
