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
