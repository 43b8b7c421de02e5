"""``Saddle``: the app object (``app = Saddle(__name__)``), a WSGI callable.

It keeps the rules, hooks, event handlers and lifecycle functions; ``dispatch`` runs a
request through them.  Under Skitai the engine mounts it through the duck-typed seam
``skitai_mount(context)`` / ``skitai_umount()`` (``skitai.worker.apps``): the context
brings the engine's ``was``, the mount point, the worker's loop, the apps mounted on the
same host and whether this is a remount.  Under any other WSGI server the app mounts
itself at its first request.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from skitai.saddle import dispatch, extensions, router
from skitai.saddle.extras import Extras
from skitai.saddle.params import Binder
from skitai.saddle.was import Was

if TYPE_CHECKING:
    import jinja2

    from skitai.saddle import templates

log = logging.getLogger("skitai.app")

View = Callable[..., Any]
F = Callable[..., Any]

LIFECYCLE = ("before_mount", "mounted", "before_remount", "remounted", "before_umount", "umounted")
REQUEST_HOOKS = ("before_request", "finish_request", "failed_request", "teardown_request")
# The seed's app events (``@app.on(saddle.app_starting)``), emitted at these points.
_LIFECYCLE_EVENTS = {"before_mount": "app_starting", "mounted": "app_started",
                     "before_remount": "app_restarting", "remounted": "app_restarted",
                     "before_umount": "app_unmounting"}


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


class Saddle(Extras):
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

    # --- lifecycle (the seed's decorators) -------------------------------------------------------
    def before_mount(self, f: F) -> F:
        return self._lifecycle("before_mount", f)

    def mounted(self, f: F) -> F:
        return self._lifecycle("mounted", f)

    def before_remount(self, f: F) -> F:
        return self._lifecycle("before_remount", f)

    def remounted(self, f: F) -> F:
        return self._lifecycle("remounted", f)

    def before_umount(self, f: F) -> F:
        return self._lifecycle("before_umount", f)

    def umounted(self, f: F) -> F:
        return self._lifecycle("umounted", f)

    def _lifecycle(self, name: str, f: F) -> F:
        self.lifecycle[name].append(f)
        return f

    def mount_was(self) -> Was:
        """The ``was`` (and ``wac``) of lifecycle hooks: no request."""
        return Was(self, {"skitai.was": self.engine_was, "SCRIPT_NAME": self.mount_point,
                          "PATH_INFO": "", "skitai.mount_time": True})

    def skitai_mount(self, context: Mapping[str, Any]) -> None:
        """Called by the engine once per worker after import (``skitai.worker.apps``)."""
        with self._mount_lock:
            self.engine_was = context.get("was")
            self.loop = context.get("loop")
            point = str(context.get("point") or "")
            self.mount_point = "" if point == "/" else point
            name = context.get("name")
            if name:
                self.name = str(name)
            apps = context.get("apps")
            if isinstance(apps, dict):
                apps[self.name] = self
                self.apps = apps
            self._mount(bool(context.get("remount")))

    def skitai_umount(self) -> None:
        """Called by the engine when the worker stops (or the app is replaced)."""
        if not self._mounted:
            return
        was = self.mount_was()
        self._run_lifecycle("before_umount", was)
        if self.engine_was is not None:
            off = getattr(self.engine_was, "off_broadcast", None)
            for event, handler in self._bound:
                if off is not None:
                    off(event, handler)
        self._bound.clear()
        self._run_lifecycle("umounted", was)
        self._mounted = False

    def _mount_standalone(self, environ: dict[str, Any]) -> None:
        with self._mount_lock:
            if self._mounted:
                return
            self.mount_point = str(environ.get("SCRIPT_NAME", "")).rstrip("/")
            if self.engine_was is None:
                self.engine_was = environ.get("skitai.was")
            self._mount(False)

    def _mount(self, remount: bool) -> None:
        self._decorate()
        self.router.compile()
        was = self.mount_was()
        self._run_lifecycle("before_remount" if remount else "before_mount", was)
        if self.engine_was is not None:
            for event, f in self.broadcasts:
                self._bind_broadcast(event, f)
        self._mounted = True
        if self.use_reloader:
            self._reloader_check()  # the files as they were at mount
        self._run_lifecycle("remounted" if remount else "mounted", was)

    def _run_lifecycle(self, name: str, was: Was) -> None:
        for f in self.lifecycle[name]:
            f(was)
        event = _LIFECYCLE_EVENTS.get(name)
        if event and self.events.get(event):
            self.emit_with(was, event)
        if name == "mounted" and self.events.get("app_mounted"):
            self.emit_with(was, "app_mounted")

    def _bind_broadcast(self, event: str, f: F) -> None:
        engine = self.engine_was
        if engine is None:
            return
        if event == "model-changed":  # every model-changed:<key>
            def handler(name: str, *args: Any, **kwargs: Any) -> Any:
                if name == event or name.startswith(event + ":"):
                    return f(self.mount_was(), *args, **kwargs)
                return None
            engine.on_broadcast("*")(handler)
            self._bound.append(("*", handler))
        else:
            def direct(*args: Any, **kwargs: Any) -> Any:
                return f(self.mount_was(), *args, **kwargs)
            engine.on_broadcast(event)(direct)
            self._bound.append((event, direct))

    # --- app layout --------------------------------------------------------------------------------
    def get_resource(self, *parts: str) -> str:
        return os.path.join(self.root, "resources", *parts)

    def add_package(self, *names: str) -> None:
        self.packages.extend(n for n in names if n not in self.packages)

    def decorate_with(self, module: Any, *args: Any, **kwargs: Any) -> None:
        """Run ``module.decorate(app, *args)`` now (and not again at mount)."""
        self._decorate_args[module.__name__] = (args, kwargs)
        self._decorated[module.__name__] = self._added_by(module.decorate, *args, **kwargs)

    def _decorate(self) -> None:
        """Every module in ``decorative/`` with a ``decorate(app)`` runs it at mount."""
        directory = os.path.join(self.root, "decorative")
        if not os.path.isdir(directory):
            return
        for entry in sorted(os.listdir(directory)):
            stem, ext = os.path.splitext(entry)
            if ext != ".py" or stem.startswith("_"):
                continue
            name = f"decorative.{stem}"
            if name in self._decorated:
                continue
            module = sys.modules.get(name) or _import_decorative(self.root, name,
                                                                 os.path.join(directory, entry))
            hook = getattr(module, "decorate", None)
            if callable(hook) and len(inspect.signature(hook).parameters) == 1:
                self._decorated[name] = self._added_by(hook)

    def _added_by(self, decorate: F, *args: Any, **kwargs: Any) -> list[str]:
        before = set(self.router.by_endpoint)
        decorate(self, *args, **kwargs)
        return [e for e in self.router.by_endpoint if e not in before]

    def redecorate(self, name: str, module: Any) -> None:
        """The reloader: drop what ``module``'s last ``decorate(app)`` routed, run it again."""
        for endpoint in self._decorated.pop(name, []):
            self.router.remove_endpoint(endpoint)
        hook = getattr(module, "decorate", None)
        if callable(hook):
            args, kwargs = self._decorate_args.get(name, ((), {}))
            self._decorated[name] = self._added_by(hook, *args, **kwargs)

    def _reloader_check(self) -> None:
        reloader = self._reloader
        if reloader is None:
            from skitai.saddle.reloader import Reloader

            reloader = self._reloader = Reloader(self)
        reloader.check()

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


def _import_decorative(root: str, name: str, path: str) -> Any:
    if root in sys.path:
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
