"""Binding a request's parameters to a view's arguments (the seed's "Getting Parameters").

Three groups, by name: URL parameters (always passed), query-string parameters (passed by
name; one the view does not name is a 400 unless it takes ``**karg``) and form/JSON body
fields (passed when the view names them or takes ``**form``; others stay in
``was.request.args``).  A required argument nobody supplied is a 400 naming it.

A ``Binder`` is computed once per rule from the view's signature, so a request does only
dict work.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class ParameterError(Exception):
    """A request whose parameters do not fit the view: answered with a 400."""


class Binder:
    __slots__ = ("names", "required", "varkw", "takes_query", "takes_body", "positional",
                 "defaults")

    def __init__(self, view: Callable[..., Any], url_params: Iterable[str]) -> None:
        sig = inspect.signature(view)
        params = list(sig.parameters.values())
        if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                         inspect.Parameter.POSITIONAL_OR_KEYWORD):
            params = params[1:]  # was
        url = set(url_params)
        self.names: frozenset[str] = frozenset(
            p.name for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
        self.positional: tuple[str, ...] = tuple(
            p.name for p in params if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.required: tuple[str, ...] = tuple(
            p.name for p in params
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
        self.defaults: dict[str, Any] = {
            p.name: p.default for p in params
            if p.default is not inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
        self.varkw = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params)
        missing_url = url - self.names
        if missing_url and not self.varkw:
            raise TypeError(f"view {getattr(view, '__name__', view)!r} does not take the URL "
                            f"parameter(s) {', '.join(sorted(missing_url))}")
        self.takes_query = self.varkw or bool(self.names - url)
        self.takes_body = self.takes_query

    def bind(self, url: dict[str, Any], query: Mapping[str, Any] | None,
             body: Mapping[str, Any] | None) -> dict[str, Any]:
        if not query and not body:
            kwargs = url
        else:
            kwargs = dict(url)
            names, varkw = self.names, self.varkw
            if query:
                unexpected = [k for k in query if k not in names] if not varkw else ()
                if unexpected:
                    raise ParameterError("unexpected query parameter(s): " + ", ".join(unexpected))
                for k, v in query.items():
                    kwargs.setdefault(k, v)
            if body:
                for k, v in body.items():
                    if k in kwargs or not (varkw or k in names):
                        continue
                    kwargs[k] = v
        missing = [n for n in self.required if n not in kwargs]
        if missing:
            raise ParameterError("missing parameter(s): " + ", ".join(missing))
        return kwargs

    def build_args(self, args: tuple[Any, ...], kw: dict[str, Any]) -> dict[str, Any]:
        """``was.ab("add", 10, 40)``: positional values name the view's arguments in order."""
        if len(args) > len(self.positional):
            raise TypeError(f"too many positional values ({len(args)}) for {self.positional}")
        values = dict(zip(self.positional, args, strict=False))
        for k, v in kw.items():
            if k in values:
                raise TypeError(f"{k!r} given twice")
            values[k] = v
        return values

