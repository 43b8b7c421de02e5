"""Saddle's URL rules: compiled once, matched with one dict look-up or one regex call.

Theory (Werkzeug's ``routing`` and Starlette's ``compile_path``, kept apart from the app):

- ``compile_rule("/episode/<int:id>")`` is a pure function: the rule's regex source, the
  format used to build URLs (``"/episode/{id}"``) and the converters by name.
- Rules with no converter live in a dict keyed by path: most requests cost one look-up.
- The others are joined into ONE regex, an alternation of ``(?P<_3>...)`` groups in
  weight order (static segments before ``int``/``float``, before strings, before
  ``path``); ``match.lastgroup`` names the rule that matched, so no Python loop scans
  the rules per request.
- Rules with the same path and different methods share one ``Endpoint``: a path that
  matches with a method no rule takes is a 405 with ``Allow`` (``Match.allow``).
- Trailing slashes as Flask (Werkzeug): ``/docs/`` requested as ``/docs`` redirects
  (308) to ``/docs/``; ``/docs`` requested as ``/docs/`` is a 404; ``strict_slashes=False``
  on a rule accepts both.  These are tried only after a miss: a hit never pays for them.

Results are values (``Match``), never exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

FOUND: Final = 0
NOT_FOUND: Final = 1
METHOD_NOT_ALLOWED: Final = 2
REDIRECT: Final = 3


class Converter:
    """A URL parameter type: its regex (no capturing groups), its weight in ordering
    (lower first), and the conversions both ways."""

    regex = r"[^/]+"
    weight = 100

    def to_python(self, value: str) -> Any:
        return value

    def to_url(self, value: Any) -> str:
        # The seed: "If not provided, assume as string. and all space will be replaced to '_'".
        return quote(str(value).replace(" ", "_"), safe="")


class IntConverter(Converter):
    regex = r"\d+"
    weight = 50

    def to_python(self, value: str) -> Any:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


class FloatConverter(Converter):
    regex = r"\d+(?:\.\d+)?"
    weight = 50

    def to_python(self, value: str) -> Any:
        return float(value)

    def to_url(self, value: Any) -> str:
        return str(float(value))


class PathConverter(Converter):
    regex = r"[^/].*?"
    weight = 200

    def to_url(self, value: Any) -> str:
        return quote(str(value), safe="/")


CONVERTERS: dict[str, type[Converter]] = {
    "string": Converter, "str": Converter, "int": IntConverter, "float": FloatConverter,
    "path": PathConverter,
}

_PARAM = re.compile(r"<(?:(?P<kind>[a-zA-Z_][a-zA-Z0-9_]*):)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


@dataclass(frozen=True)
class Compiled:
    regex: str  # anchored-free source; named groups are the parameter names
    format: str  # "/episode/{id}"
    converters: dict[str, Converter]
    weights: tuple[int, ...]  # per segment: 0 static, else the converter's weight


def compile_rule(rule: str) -> Compiled:
    """``"/episode/<int:id>"`` -> (``"/episode/(?P<id>\\d+)"``, ``"/episode/{id}"``, ...)."""
    if not rule.startswith("/"):
        raise ValueError(f"a route starts with '/': {rule!r}")
    regex, fmt, pos = [], [], 0
    converters: dict[str, Converter] = {}
    for m in _PARAM.finditer(rule):
        static = rule[pos:m.start()]
        regex.append(re.escape(static))
        fmt.append(static.replace("{", "{{").replace("}", "}}"))
        kind, name = m.group("kind") or "string", m.group("name")
        if kind not in CONVERTERS:
            raise ValueError(f"route {rule!r}: unknown converter {kind!r} "
                             f"(one of {', '.join(sorted(CONVERTERS))})")
        if name in converters:
            raise ValueError(f"route {rule!r}: parameter {name!r} appears twice")
        conv = CONVERTERS[kind]()
        converters[name] = conv
        regex.append(f"(?P<{name}>{conv.regex})")
        fmt.append("{" + name + "}")
        pos = m.end()
    tail = rule[pos:]
    regex.append(re.escape(tail))
    fmt.append(tail.replace("{", "{{").replace("}", "}}"))
    weights = tuple(_segment_weight(seg, converters) for seg in rule.strip("/").split("/"))
    return Compiled("".join(regex), "".join(fmt), converters, weights)


def _segment_weight(segment: str, converters: dict[str, Converter]) -> int:
    names = [m.group("name") for m in _PARAM.finditer(segment)]
    return max((converters[n].weight for n in names), default=0)


@dataclass
class Rule:
    """One ``@app.route(...)``: what the app keeps about a view."""

    rule: str
    endpoint: str
    view: Callable[..., Any]
    methods: frozenset[str] | None = None  # None: any method
    content_types: frozenset[str] | None = None
    strict_slashes: bool = True
    options: dict[str, Any] = field(default_factory=dict)  # extra route keywords (part 2's)
    compiled: Compiled = field(init=False)
    binder: Any = None  # skitai.saddle.params.Binder, set by the app
    is_async: bool = False  # an ``async def`` view

    def __post_init__(self) -> None:
        self.compiled = compile_rule(self.rule)

    def build(self, values: dict[str, Any]) -> str:
        out = {}
        for name, conv in self.compiled.converters.items():
            if name not in values:
                raise ValueError(f"URL for {self.endpoint!r} ({self.rule}) needs {name!r}")
            out[name] = conv.to_url(values[name])
        return self.compiled.format.format(**out)


class Endpoint:
    """The rules sharing one path pattern, by method."""

    __slots__ = ("rules", "any", "converters", "allow", "slash")

    def __init__(self, compiled: Compiled, slash: bool) -> None:
        self.rules: dict[str, Rule] = {}
        self.any: Rule | None = None
        self.converters = compiled.converters
        self.allow = ""
        self.slash = slash  # whether a request without the trailing slash redirects

    def add(self, rule: Rule) -> None:
        if rule.methods is None:
            self.any = self.any or rule
        else:
            for method in rule.methods:
                self.rules.setdefault(method, rule)
        methods = set(self.rules)
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        self.allow = ", ".join(sorted(methods))

    def pick(self, method: str) -> Rule | None:
        rule = self.rules.get(method)
        if rule is None:
            if method == "HEAD":
                rule = self.rules.get("GET")
            if rule is None:
                rule = self.any
        return rule


class Match:
    """What ``Router.match`` found: ``kind`` is FOUND, NOT_FOUND, METHOD_NOT_ALLOWED
    (``allow`` is the Allow header) or REDIRECT (``location`` is the path to send)."""

    __slots__ = ("kind", "rule", "params", "allow", "location")

    def __init__(self, kind: int, rule: Rule | None = None, params: dict[str, Any] | None = None,
                 allow: str = "", location: str = "") -> None:
        self.kind = kind
        self.rule = rule
        self.params = params
        self.allow = allow
        self.location = location


_NOT_FOUND: Final = Match(NOT_FOUND)
_NO_PARAMS: Final[dict[str, Any]] = {}


class _Tables:
    """What ``Router.compile`` makes, swapped in as one object (a request in another
    thread sees the old tables or the new ones, never half of each)."""

    __slots__ = ("static", "regex", "groups", "dynamic")

    def __init__(self, static: dict[str, Endpoint], regex: re.Pattern[str] | None,
                 groups: dict[str, tuple[Endpoint, dict[str, str]]],
                 dynamic: list[tuple[str, Endpoint]]) -> None:
        self.static = static
        self.regex = regex
        self.groups = groups
        self.dynamic = dynamic  # (regex source with the rule's own group names, endpoint)


class Router:
    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.by_endpoint: dict[str, list[Rule]] = {}
        self._tables = _Tables({}, None, {}, [])
        self._compiled = True

    def add(self, rule: Rule) -> None:
        self.rules.append(rule)
        self.by_endpoint.setdefault(rule.endpoint, []).append(rule)
        self._compiled = False

    def remove_endpoint(self, endpoint: str) -> None:
        """Drop an endpoint's rules (a decorative module re-run by the reloader)."""
        self.rules = [r for r in self.rules if r.endpoint != endpoint]
        self.by_endpoint.pop(endpoint, None)
        self._compiled = False

    def compile(self) -> None:
        static: dict[str, Endpoint] = {}
        dynamic: dict[str, Endpoint] = {}
        order: list[tuple[tuple[int, ...], int, str]] = []
        for rule in self.rules:
            c = rule.compiled
            slash = rule.rule.endswith("/") and rule.rule != "/" and rule.strict_slashes
            if not c.converters:
                ep = static.get(rule.rule)
                if ep is None:
                    ep = static[rule.rule] = Endpoint(c, slash)
                ep.add(rule)
                if not rule.strict_slashes and rule.rule != "/":
                    other = rule.rule[:-1] if rule.rule.endswith("/") else rule.rule + "/"
                    static.setdefault(other, Endpoint(c, False)).add(rule)
                continue
            source = c.regex
            if not rule.strict_slashes:
                source = source.rstrip("/") + "/?"
            ep = dynamic.get(source)
            if ep is None:
                ep = dynamic[source] = Endpoint(c, slash)
                order.append((c.weights, len(order), source))
            ep.add(rule)
        alternatives, groups, ordered = [], {}, []
        for i, (_, _, source) in enumerate(sorted(order)):
            ep = dynamic[source]
            names = {f"_{i}_{n}": n for n in ep.converters}
            renamed = source
            for group, name in names.items():
                renamed = renamed.replace(f"(?P<{name}>", f"(?P<{group}>", 1)
            alternatives.append(f"(?P<_{i}>{renamed})")
            groups[f"_{i}"] = (ep, names)
            ordered.append((source, ep))
        regex = re.compile("(?:" + "|".join(alternatives) + r")\Z") if alternatives else None
        self._tables = _Tables(static, regex, groups, ordered)
        self._compiled = True

    @staticmethod
    def _find(tables: _Tables, path: str) -> tuple[Endpoint, dict[str, Any]] | None:
        ep = tables.static.get(path)
        if ep is not None:
            return ep, _NO_PARAMS
        regex = tables.regex
        if regex is None:
            return None
        m = regex.match(path)
        if m is None:
            return None
        ep, names = tables.groups[m.lastgroup]  # type: ignore[index]
        params = {}
        for group, name in names.items():
            params[name] = ep.converters[name].to_python(m.group(group))
        return ep, params

    def match(self, path: str, method: str) -> Match:
        if not self._compiled:
            self.compile()
        tables = self._tables
        found = self._find(tables, path)
        if found is None:
            return self._miss(tables, path)
        ep, params = found
        rule = ep.pick(method)
        if rule is not None:
            return Match(FOUND, rule, params)
        # Another pattern may take this method for the same path (rare): look at all.
        for source, other in tables.dynamic:
            if other is ep:
                continue
            rule = other.pick(method)
            m = re.fullmatch(source, path) if rule is not None else None
            if m is not None:
                return Match(FOUND, rule, {n: other.converters[n].to_python(v)
                                           for n, v in m.groupdict().items()})
        return Match(METHOD_NOT_ALLOWED, allow=ep.allow)

    def _miss(self, tables: _Tables, path: str) -> Match:
        """Flask's trailing-slash redirect: ``/docs`` -> ``/docs/`` when only that exists."""
        if not path.endswith("/"):
            found = self._find(tables, path + "/")
            if found is not None and found[0].slash:
                return Match(REDIRECT, location=path + "/")
        return _NOT_FOUND
