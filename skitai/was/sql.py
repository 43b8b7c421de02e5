"""SQL parameters and rows, the same for every driver ``was.backend()`` may pick.

Parameters are always passed to the driver, never formatted into the text.  One
placeholder style works on every engine, so an app moves from SQLite to PostgreSQL by
changing its alias only: the DB-API "pyformat" style the seed's psycopg2 used,
``%s`` (with a tuple or list) and ``%(name)s`` (with a dict); ``%%`` is a literal ``%``.
``to_numeric``/``to_qmark`` rewrite them into ``$1``/``?`` outside string literals,
quoted identifiers, comments and dollar-quoted bodies.  SQL without pyformat
placeholders is passed as written, so a driver's native style (``$1`` for asyncpg,
``?`` or ``:name`` for sqlite3) works too; SQL without parameters is never rewritten.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

Params = Sequence[Any] | Mapping[str, Any] | None

# What is skipped (left as is) and what is a placeholder, in one pass.
_TOKENS = re.compile(
    r"""
      (?P<skip> '(?:[^']|'')*'            # a string literal
              | "(?:[^"]|"")*"            # a quoted identifier
              | --[^\n]*                  # a line comment
              | /\*.*?\*/                 # a block comment
              | \$(?P<tag>[A-Za-z_]\w*|)\$.*?\$(?P=tag)\$   # a dollar-quoted body
      )
    | (?P<named> %\((?P<name>[^)]+)\)s )
    | (?P<pos> %s )
    | (?P<pct> %% )
    """,
    re.VERBOSE | re.DOTALL,
)


class ParamError(ValueError):
    """The placeholders and the parameters given do not match."""


@functools.lru_cache(maxsize=1024)
def _plan(sql: str, style: str) -> tuple[str, tuple[str | int, ...]] | None:
    """The text with its pyformat placeholders rewritten (``style`` "numeric" or
    "qmark") and what each slot takes: an ``int`` (the n-th positional value) or a name.
    None when the text has none.  Pure and cached: an app sends the same few statements
    again and again, so the scan runs once per statement."""
    slots: list[str | int] = []
    named: dict[str, int] = {}
    found = False
    position = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal found, position
        if m.group("skip") is not None:
            return m.group(0)
        if m.group("pct") is not None:
            return "%"
        found = True
        if m.group("named") is not None:
            name = m.group("name")
            if style == "qmark":  # every occurrence is a slot of its own
                slots.append(name)
                return "?"
            if name not in named:  # numeric: one $n per name, however often it is used
                slots.append(name)
                named[name] = len(slots)
            return f"${named[name]}"
        slots.append(position)
        position += 1
        return f"${len(slots)}" if style == "numeric" else "?"

    text = _TOKENS.sub(replace, sql)
    return (text, tuple(slots)) if found else None


def _rewrite(sql: str, params: Params, style: str) -> tuple[str, list[Any]] | None:
    """(text, values) for the driver, or None when the text has no pyformat placeholder
    (native style: pass as written)."""
    plan = _plan(sql, style)
    if plan is None:
        return None
    text, slots = plan
    positional = [s for s in slots if isinstance(s, int)]
    names = [s for s in slots if isinstance(s, str)]
    if names:
        if not isinstance(params, Mapping):
            raise ParamError("%(name)s placeholders need a dict of parameters")
        for name in names:
            if name not in params:
                raise ParamError(f"no parameter named {name!r}")
    if positional:
        if isinstance(params, Mapping) or params is None or isinstance(params, str | bytes):
            raise ParamError("%s placeholders need a tuple or list of parameters")
        if len(positional) != len(params):
            raise ParamError(f"{len(positional)} %s placeholders, {len(params)} parameters")
    values = [params[s] for s in slots]  # type: ignore[index]
    return text, values


def to_numeric(sql: str, params: Params) -> tuple[str, list[Any]]:
    """For asyncpg: ``$1, $2, ...`` and the values in order (a named parameter used twice
    is one ``$n``)."""
    if params is None:
        return sql, []
    done = _rewrite(sql, params, "numeric")
    if done is not None:
        return done
    if isinstance(params, Mapping):
        raise ParamError("PostgreSQL takes named parameters as %(name)s")
    return sql, list(params)


def to_qmark(sql: str, params: Params) -> tuple[str, Sequence[Any] | Mapping[str, Any]]:
    """For sqlite3: ``?`` and the values in order; native ``?``/``:name`` pass through."""
    if params is None:
        return sql, ()
    done = _rewrite(sql, params, "qmark")
    if done is not None:
        return done
    return sql, params if isinstance(params, Mapping) else list(params)


_SELECT = re.compile(r"\s*\(*\s*SELECT\b", re.IGNORECASE)
# What Django's compiler generates when a filter can match nothing (``pk__in=[]``, .none()):
# Django answers [] without asking the database; this asks it for no rows the same way.
_NO_ROWS = "SELECT 1 WHERE 1 = 0"


def from_queryset(queryset: Any) -> tuple[str, Params]:
    """The SQL (``%s`` placeholders) and parameters of a Django QuerySet or its ``.query``,
    SELECT only.  Duck typed (``.query.sql_with_params()``): Django is never imported here.
    The SQL is what the project's default database would be sent; prefetch_related() and
    other work Django does after fetching rows is not done."""
    query = getattr(queryset, "query", queryset)
    make = getattr(query, "sql_with_params", None)
    if not callable(make):
        raise TypeError("execute() takes SQL text (and its parameters) or a Django QuerySet, "
                        f"not {type(queryset).__name__}")
    try:
        statement, params = make()
    except Exception as exc:
        if type(exc).__name__ == "EmptyResultSet":
            return _NO_ROWS, None
        raise
    if not isinstance(statement, str) or not _SELECT.match(statement) or is_script(statement):
        raise ValueError("only a SELECT QuerySet can run through was: "
                         f"{str(statement)[:60]!r} is not one (use Django's own save/update/delete)")
    return statement, tuple(params)


@functools.lru_cache(maxsize=1024)
def is_script(sql: str) -> bool:
    """Several statements (run without parameters, as a script)."""
    text = _TOKENS.sub(lambda m: "''" if m.group("skip") is not None else m.group(0), sql)
    return ";" in text.strip().rstrip(";")


class Row(dict[str, Any]):
    """One row: ``row.name`` and ``row["name"]`` (README: ``row.city, row.t_high``); a
    dict, so it serialises as JSON as is."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        # What __getattr__ would do, without first failing: on Python 3.11 a failed
        # attribute lookup formats an AttributeError before __getattr__ is asked, 7x the
        # cost of this (row.col: 0.1 us, was 0.7).  Row's own attributes (the dict
        # methods) still come first, as before.
        if name in _CLASS_ATTRS:
            return _object_getattribute(self, name)
        try:
            return self[name]
        except KeyError:
            pass
        try:
            return _object_getattribute(self, name)  # a subclass's own attributes
        except AttributeError:
            raise AttributeError(f"the row has no column {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


_object_getattribute = object.__getattribute__
_CLASS_ATTRS = frozenset(dir(Row))
