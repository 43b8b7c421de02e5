"""Saddle's Jinja environment: its dict fast path renders what plain Jinja renders."""

from __future__ import annotations

import jinja2
import pytest

from skitai.saddle import templates

CASES = [
    ("{{ d.name }}", {"d": {"name": "<n>"}}),
    ("{{ d.items }}|{{ d.items() | list }}", {"d": {"items": 3}}),   # dict's own attribute wins
    ("{{ d.missing }}|{{ d.missing is defined }}", {"d": {}}),
    ("{{ d.keys() | list }}", {"d": {"a": 1}}),
    ("{{ o.real }}|{{ o.nope }}", {"o": 5}),
    ("{{ s.name }}", {"s": type("D", (dict,), {})(name="sub")}),        # a dict subclass
    ("{% for i in rows %}{{ i.price * 2 }},{% endfor %}", {"rows": [{"price": 1}, {"price": 2}]}),
]


@pytest.mark.parametrize(("source", "context"), CASES)
def test_fast_getattr_agrees_with_jinja(source: str, context: dict[str, object]) -> None:
    plain = jinja2.Environment(autoescape=True).from_string(source).render(context)
    fast = templates.Environment(autoescape=True).from_string(source).render(context)
    assert fast == plain


def test_strict_undefined_still_raises() -> None:
    env = templates.Environment(undefined=jinja2.StrictUndefined)
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ d.missing }}").render(d={})


# --- the seed's double escape under jinja_overlay ---------------------------------------------------
def hash_env() -> jinja2.Environment:
    return templates.overlay(templates.make_env("."), variable_start_string="#",
                             variable_end_string="#", line_statement_prefix="%",
                             line_comment_prefix="%%")


@pytest.mark.parametrize(("source", "expected"), [
    ("a ## b", "a # b"),                  # the seed's '##' escape
    ("# #|#  #", "#|#"),                  # whitespace inside the empty tag is still empty
    ("#x# ## #x#", "1 # 1"),
    ("##x##", "#x#"),                     # '#x#' written literally
    ("#h#|##", "&lt;b&gt;|#"),            # variables are still autoescaped, the escape is text
    ("% for i in l\n#i# ##\n% endfor\n", "1 #\n2 #\n"),
])
def test_double_escape_writes_the_delimiter(source: str, expected: str) -> None:
    assert hash_env().from_string(source).render(x=1, h="<b>", l=[1, 2]) == expected


def test_double_escape_with_other_delimiters_writes_the_start_string() -> None:
    env = templates.overlay(templates.make_env("."), variable_start_string="${",
                            variable_end_string="}")
    assert env.from_string("${} ${ x } {{ y }}").render(x=1) == "${ 1 {{ y }}"


def test_double_escape_only_in_overlays() -> None:
    # An empty tag stays Jinja's syntax error outside jinja_overlay; the overlay keeps the
    # filters registered on the environment it came from and extensions passed to it.
    base = templates.make_env(".")
    base.filters["twice"] = lambda v: v * 2
    with pytest.raises(jinja2.TemplateSyntaxError):
        base.from_string("{{ }}")
    env = templates.overlay(base, variable_start_string="#", variable_end_string="#",
                            extensions=["jinja2.ext.loopcontrols"])
    assert env.from_string("#x|twice# ##").render(x=2) == "4 #"
    assert env.from_string("{% for i in [1, 2] %}#i#{% break %}{% endfor %}").render() == "1"
    assert "jinja2.ext.LoopControlExtension" in env.extensions
