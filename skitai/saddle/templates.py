"""Templates: Jinja2 from ``templates/`` beside the app file (autoescape on for HTML and
XML), Chameleon for ``.pt``/``.ptal`` files when the ``chameleon`` package is installed.

Every template sees ``was`` (so ``was.g``, ``was.request.args``, ``was.ab(...)``);
``@app.template_global`` functions take ``was`` first and are called without it;
``app.jinja_overlay(...)`` swaps the delimiters (the seed's way to live beside Vue/React),
with the seed's double escape: an empty variable tag writes its delimiter, so with ``#`` as
both variable delimiters ``##`` renders ``#``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
import jinja2.ext
from jinja2.lexer import Token, TokenStream

_HTML = ("html", "htm", "xml", "xhtml", "j2")
_DICT_ATTRS = frozenset(dir(dict))


class Environment(jinja2.Environment):
    """Jinja's environment with one fast path: ``item.name`` on a plain ``dict`` looks
    the key up directly.  Jinja tries ``getattr(item, "name")`` first, which for a dict
    can only succeed for dict's own attributes (``items``, ``keys``...): for any other
    name it raises and then Jinja does ``item["name"]``.  Skipping the raise gives the
    same result (``tests/unit/saddle/test_templates.py`` checks both ways agree)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRS:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def make_env(directory: str, auto_reload: bool = False, **options: Any) -> jinja2.Environment:
    """``auto_reload``: stat the template file at every render to see a change (the app
    turns it on with ``debug`` or ``use_reloader``, as Flask does with debug)."""
    return Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=jinja2.select_autoescape(_HTML, default_for_string=True),
        auto_reload=auto_reload,
        **options,
    )


class DoubleEscape(jinja2.ext.Extension):
    """The seed's ``##``: a variable tag with nothing inside (``##`` when ``#`` is both the
    start and the end delimiter, whitespace allowed between) writes the start delimiter as
    text.  With equal delimiters Jinja has no other way to write one (the seed README: "use
    '##' for escaping"); plain Jinja rejects the empty tag as a syntax error, so no template
    that compiled before changes meaning.  The seed patched Jinja's parser for this; a token
    filter does the same through Jinja's public extension API."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        text = self.environment.variable_start_string
        while stream:
            token = next(stream)
            if token.type == "variable_begin" and stream.current.type == "variable_end":
                next(stream)
                yield Token(token.lineno, "data", text)
            else:
                yield token


def overlay(env: jinja2.Environment, **options: Any) -> jinja2.Environment:
    """A new environment with ``options`` (delimiters...), keeping the loader, globals,
    filters and tests already registered, and the seed's ``##`` double escape."""
    extensions = [*options.pop("extensions", ()), DoubleEscape]
    new = env.overlay(extensions=extensions, **options)
    new.globals = env.globals
    new.filters = env.filters
    new.tests = env.tests
    return new


def was_global(func: Callable[..., Any]) -> Callable[..., Any]:
    """A template global that gets the rendering ``was`` first."""

    @jinja2.pass_context
    def call(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        return func(ctx.get("was"), *args, **kwargs)

    call.__name__ = getattr(func, "__name__", "template_global")
    return call


class Chameleon:
    """``.pt``/``.ptal`` templates (optional: ``pip install skitai[chameleon]``)."""

    def __init__(self, directory: str) -> None:
        try:
            from chameleon import PageTemplateLoader
        except ImportError:
            raise RuntimeError("a .pt/.ptal template needs the chameleon package "
                               "(pip install 'skitai[chameleon]')") from None
        self.loader = PageTemplateLoader(directory)

    def render(self, name: str, context: dict[str, Any]) -> str:
        return str(self.loader[name](**context))


def is_chameleon(name: str) -> bool:
    return os.path.splitext(name)[1] in (".pt", ".ptal")
