"""``Saddle``: the app object (``app = Saddle(__name__)``), a WSGI callable.

It keeps the rules, hooks, event handlers and templates; ``dispatch`` runs a request
through them; ``lifecycle.Lifecycle`` (a mixin) holds the mount decorators and the
engine's duck-typed seam ``skitai_mount(context)`` / ``skitai_umount()``
(``skitai.worker.apps``): the context
brings the engine's ``was``, the mount point, the worker's loop, the apps mounted on the
same host and whether this is a remount.  Under any other WSGI server the app mounts
itself at its first request.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from skitai.saddle import dispatch, extensions, router
from skitai.saddle.extras import Extras
from skitai.saddle.lifecycle import LIFECYCLE, Lifecycle
from skitai.saddle.params import Binder
from skitai.saddle.storage import Storage
from skitai.saddle.was import Was

if TYPE_CHECKING:
    import concurrent.futures

    import jinja2

    from skitai.saddle import templates

log = logging.getLogger("skitai.app")

View = Callable[..., Any]
F = Callable[..., Any]

REQUEST_HOOKS = ("before_request", "finish_request", "failed_request", "teardown_request")
class Config(dict[str, Any]):
    """``app.config``: attribute access (``app.config.max_post_body_size``), merged with
    the mount's ``pref.config`` by the engine.  (``skitai.config.pref.AttrDict``'s twin:
    Saddle imports no other skitai module.)"""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def _default_config() -> Config:
    return Config(max_post_body_size=5 * 1024 * 1024, max_cache_size=5 * 1024 * 1024,
                  max_multipart_body_size=20 * 1024 * 1024, max_upload_file_size=20000000,
                  trusted_proxies=[])


class Saddle(Lifecycle, Extras):
    def __init__(self, import_name: str) -> None:
        self.import_name = import_name
        self.name = import_name.rsplit(".", 1)[-1]
        module = sys.modules.get(import_name)
        path = getattr(module, "__file__", None)
        self.root = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
        self.debug = False
        self.use_reloader = False
        self.securekey: str | None = None
        self.config = _default_config()
        self.storage = Storage()  # the seed's app.storage (set in @app.mounted callbacks)
        self.numthreads = 1  # the engine's thread pool size, given at mount (wac.numthreads)
        self._broadcast_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.packages = ["package", "contrib"]
        self.router = router.Router()
        self.hooks: dict[str, list[F]] = {name: [] for name in REQUEST_HOOKS}
        self.lifecycle: dict[str, list[F]] = {name: [] for name in LIFECYCLE}
        self.error_handlers: dict[int, F] = {}  # 0: the default handler
        self.events: dict[str, list[F]] = {}
        self.broadcasts: list[tuple[str, F]] = []
        self.apps: dict[str, Any] = {self.name: self}
        self.engine_was: Any = None
        self.loop: Any = None
        self.mount_point = ""
        self._mounted = False
        self._mount_lock = threading.Lock()
        self._bound: list[tuple[str, F]] = []
        self._decorated: dict[str, list[str]] = {}  # module -> the endpoints it added
        self._decorate_args: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._reloader: Any = None
        self._jinja: jinja2.Environment | None = None
        self._globals: dict[str, Any] = {}
        self._filters: dict[str, F] = {}
        self._chameleon: templates.Chameleon | None = None
        self._error_templates: dict[str, bool] = {}
        self._watched: dict[str, float] = {}
        self.init_extras()

    def __repr__(self) -> str:
        return f"<Saddle {self.import_name!r} at {self.mount_point or '/'}>"

    # --- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self._mounted:
            self._mount_standalone(environ)
        if self.use_reloader:
            self._reloader_check()
        for hook in extensions.routing_hooks:
            answer = hook(self, environ, start_response)
            if answer is not None:
                return answer
        path = environ.get("PATH_INFO") or "/"
        if not path.isascii():  # PEP 3333 hands bytes over as latin-1: URLs are UTF-8
            path = path.encode("latin-1").decode("utf-8", "replace")
        match = self.router.match(path, environ["REQUEST_METHOD"])
        if match.kind != router.FOUND:
            return dispatch.unrouted(self, environ, match, start_response)
        rule = match.rule
        assert rule is not None
        was = Was(self, environ, rule, match.params)
        coro = dispatch.respond(self, was, rule, match.params or {})
        if rule.is_async:
            return dispatch.run_async(self, was, coro, start_response)
        return dispatch.finish(self, was, dispatch.run_sync(self, was, coro), start_response)

    # --- routing ---------------------------------------------------------------------------------
    def route(self, rule: str, methods: list[str] | None = None,
              content_types: list[str] | None = None, strict_slashes: bool = True,
              endpoint: str | None = None, **options: Any) -> Callable[[View], View]:
        """``@app.route("/episode/<int:id>", methods=["GET"])``; other keywords are kept
        in ``rule.options`` (``authenticate=True``, CORS overrides)."""

        def register(view: View) -> View:
            r = router.Rule(
                rule, endpoint or view.__name__, view,
                frozenset(m.upper() for m in methods) if methods else None,
                frozenset(c.lower() for c in content_types) if content_types else None,
                strict_slashes, dict(options))
            r.binder = Binder(view, r.compiled.converters)
            r.is_async = dispatch.is_async(view)
            self.router.add(r)
            return view

        return register

    def build_url(self, name: str, *args: Any, _script: str | None = None, **kwargs: Any) -> str:
        """``was.ab``: the URL of a view by name, below this app's mount point; extra
        values go to the query string; ``"search.query"`` names a view of the app
        mounted from ``search.py`` on the same host."""
        rules = self.router.by_endpoint.get(name)
        if rules is None:
            appname, dot, view = name.partition(".")
            other = self.apps.get(appname) if dot else None
            if other is None:
                raise KeyError(f"no view named {name!r} in app {self.name!r}")
            return str(other.build_url(view, *args, **kwargs))
        rule = rules[0]
        values = rule.binder.build_args(args, kwargs)
        path = rule.build(values)
        rest = {k: v for k, v in values.items() if k not in rule.compiled.converters}
        script = (self.mount_point if _script is None else _script).rstrip("/")
        return script + path + ("?" + urlencode(rest, doseq=True) if rest else "")

    def call_view(self, was: Any, rule: router.Rule, args: list[Any] | tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        """Call ``rule``'s view as a request would, with positional ``args`` naming its
        parameters in order (RPC); a bad argument list raises ``TypeError``.  An async
        view's coroutine is returned unawaited."""
        values = rule.binder.build_args(tuple(args), kwargs)
        missing = [n for n in rule.binder.required if n not in values]
        if missing:
            raise TypeError(f"{rule.endpoint}() missing argument(s): {', '.join(missing)}")
        unexpected = [k for k in values if k not in rule.binder.names] \
            if not rule.binder.varkw else []
        if unexpected:
            raise TypeError(f"{rule.endpoint}() got unexpected argument(s): {', '.join(unexpected)}")
        was.__dict__["_rule"] = rule
        return rule.view(was, **values)

    # --- request hooks ------------------------------------------------------------------------------
    def before_request(self, f: F) -> F:
        self.hooks["before_request"].append(f)
        return f

    def finish_request(self, f: F) -> F:
        self.hooks["finish_request"].append(f)
        return f

    def failed_request(self, f: F) -> F:
        self.hooks["failed_request"].append(f)
        return f

    def teardown_request(self, f: F) -> F:
        self.hooks["teardown_request"].append(f)
        return f

    def error_handler(self, code: int) -> Callable[[F], F]:
        def register(f: F) -> F:
            self.error_handlers[int(code)] = f
            return f
        return register

    def default_error_handler(self, f: F) -> F:
        self.error_handlers[0] = f
        return f

    def preworks(self, *funcs: F) -> Callable[[View], View]:
        """Run ``funcs(was)`` before the view; the first non-None return answers."""
        return _around(before=funcs)

    def postworks(self, *funcs: F) -> Callable[[View], View]:
        """Run ``funcs(was)`` after the view (their return is ignored)."""
        return _around(after=funcs)

    def if_file_modified(self, path: str, func: F) -> Callable[[View], View]:
        """Call ``func(was, path)`` before the view when ``path``'s mtime changed."""

        def check(was: Any) -> None:
            try:
                mtime = os.path.getmtime(path)
            except OSError:
                return
            if self._watched.get(path) != mtime:
                self._watched[path] = mtime
                func(was, path)

        return _around(before=(check,))

    # --- events ------------------------------------------------------------------------------
    def on(self, *events: str) -> Callable[[F], F]:
        """``@app.on("item:added")``: ``func(was, *args)`` runs on ``was.emit(event, ...)``."""
        def register(f: F) -> F:
            for event in events:
                self.events.setdefault(event, []).append(f)
            return f
        return register

    def emit_with(self, was: Any, event: str, *args: Any, **kwargs: Any) -> None:
        for f in self.events.get(event, ()):
            f(was, *args, **kwargs)

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        """``app.emit`` outside a request: handlers get a ``was`` without a request."""
        self.emit_with(self.mount_was(), event, *args, **kwargs)

    def emit_after(self, event: str) -> Callable[[View], View]:
        return _around(after=(lambda was: was.emit(event),))

    def on_broadcast(self, *events: str) -> Callable[[F], F]:
        """``@app.on_broadcast("user:data-added")``: ``func(was, *args)`` runs in every
        worker on ``was.broadcast(event, ...)`` (the engine's); ``"model-changed"`` also
        gets every ``model-changed:<key>`` of ``was.setlu``."""
        def register(f: F) -> F:
            for event in events:
                self.broadcasts.append((event, f))
                if self._mounted:
                    self._bind_broadcast(event, f)
            return f
        return register

    def broadcast_after(self, event: str) -> Callable[[View], View]:
        return _around(after=(lambda was: was.broadcast(event),))

    # --- templates ---------------------------------------------------------------------------------
    @property
    def jinja_env(self) -> jinja2.Environment:
        env = self._jinja
        if env is None:
            from skitai.saddle import templates  # Jinja2 is loaded by the first template

            env = self._jinja = templates.make_env(os.path.join(self.root, "templates"),
                                                   auto_reload=self.debug or self.use_reloader)
            env.globals.update(self._globals)
            env.filters.update(self._filters)
        return env

    @jinja_env.setter
    def jinja_env(self, env: jinja2.Environment) -> None:
        self._jinja = env

    def jinja_overlay(self, variable_start_string: str = "{{", variable_end_string: str = "}}",
                      block_start_string: str = "{%", block_end_string: str = "%}",
                      comment_start_string: str = "{#", comment_end_string: str = "#}",
                      line_statement_prefix: str | None = "%",
                      line_comment_prefix: str | None = "%%", **options: Any) -> jinja2.Environment:
        """The seed's delimiter swap (for Vue/React templates)."""
        from skitai.saddle import templates

        self._jinja = templates.overlay(
            self.jinja_env, variable_start_string=variable_start_string,
            variable_end_string=variable_end_string, block_start_string=block_start_string,
            block_end_string=block_end_string, comment_start_string=comment_start_string,
            comment_end_string=comment_end_string, line_statement_prefix=line_statement_prefix,
            line_comment_prefix=line_comment_prefix, **options)
        return self._jinja

    def template_global(self, name: str | None = None) -> Callable[[F], F]:
        """A template function taking ``was`` first, called in templates without it."""
        def register(f: F) -> F:
            from skitai.saddle import templates

            key = name or f.__name__
            self._globals[key] = templates.was_global(f)
            if self._jinja is not None:
                self._jinja.globals[key] = self._globals[key]
            return f
        return register

    def template_filter(self, name: str | None = None) -> Callable[[F], F]:
        def register(f: F) -> F:
            key = name or f.__name__
            self._filters[key] = f
            if self._jinja is not None:
                self._jinja.filters[key] = f
            return f
        return register

    def render(self, was: Any, template: str, context: dict[str, Any]) -> str:
        from skitai.saddle import templates

        ctx = dict(context)
        ctx.setdefault("was", was)
        if self.events.get("template_rendering"):
            self.emit_with(was, "template_rendering", template, ctx)
        if templates.is_chameleon(template):
            if self._chameleon is None:
                self._chameleon = templates.Chameleon(os.path.join(self.root, "templates"))
            content = self._chameleon.render(template, ctx)
        else:
            content = self.jinja_env.get_template(template).render(ctx)
        if self.events.get("template_rendered"):
            self.emit_with(was, "template_rendered", content)
        return content

    def has_template(self, name: str) -> bool:
        found = self._error_templates.get(name)
        if found is None:
            found = self._error_templates[name] = os.path.isfile(
                os.path.join(self.root, "templates", name))
        return found


def _around(before: tuple[F, ...] = (), after: tuple[F, ...] = ()) -> Callable[[View], View]:
    """Wrap a view with work before (a non-None return answers) and after; the view's
    signature stays visible (``functools.wraps``) for parameter binding."""

    def decorate(view: View) -> View:
        if dispatch.is_async(view):
            @functools.wraps(view)
            async def async_wrapper(was: Any, *args: Any, **kwargs: Any) -> Any:
                for f in before:
                    content = f(was)
                    if content is not None:
                        return content
                content = await view(was, *args, **kwargs)
                for f in after:
                    f(was)
                return content
            return async_wrapper

        @functools.wraps(view)
        def wrapper(was: Any, *args: Any, **kwargs: Any) -> Any:
            for f in before:
                content = f(was)
                if content is not None:
                    return content
            content = view(was, *args, **kwargs)
            for f in after:
                f(was)
            return content
        return wrapper

    return decorate
