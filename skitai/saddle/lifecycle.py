"""The lifecycle half of ``Saddle`` (a mixin): the seed's mount decorators, the engine's
seam (``skitai_mount``/``skitai_umount``, called by ``skitai.worker.apps`` without the
engine importing Saddle), the mount of an app under another WSGI server at its first
request, ``decorative/`` modules and the reloader's glue.

Order (the seed's "App Lifecycle Hook"): ``before_mount(wac)`` then ``mounted(was)`` in
every worker; in the workers of a reloaded generation ``before_remount(wac)`` and
``remounted(was)`` instead; ``before_umount(was)`` and ``umounted(wac)`` when a worker
stops.  ``wac`` and ``was`` are both a ``Was`` without a request here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from skitai.saddle.was import Was

if TYPE_CHECKING:
    import concurrent.futures

    from skitai.saddle import router
    from skitai.saddle.app import Saddle

F = Callable[..., Any]
log = logging.getLogger("skitai.app")

LIFECYCLE = ("before_mount", "mounted", "before_remount", "remounted", "before_umount", "umounted")
# The seed's app events (``@app.on(saddle.app_starting)``), emitted at these points.
_LIFECYCLE_EVENTS = {"before_mount": "app_starting", "mounted": "app_started",
                     "before_remount": "app_restarting", "remounted": "app_restarted",
                     "before_umount": "app_unmounting"}


class Lifecycle:
    if TYPE_CHECKING:  # set by Saddle.__init__
        import_name: str
        name: str
        root: str
        use_reloader: bool
        packages: list[str]
        router: router.Router
        lifecycle: dict[str, list[F]]
        broadcasts: list[tuple[str, F]]
        events: dict[str, list[F]]
        apps: dict[str, Any]
        engine_was: Any
        loop: Any
        numthreads: int
        _broadcast_pool: concurrent.futures.ThreadPoolExecutor | None
        mount_point: str
        _mounted: bool
        _mount_lock: threading.Lock
        _bound: list[tuple[str, F]]
        _decorated: dict[str, list[str]]
        _decorate_args: dict[str, tuple[tuple[Any, ...], dict[str, Any]]]
        _reloader: Any
        emit_with: Callable[..., None]

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

    def _app(self) -> Saddle:
        return cast("Saddle", self)  # this mixin is only ever part of a Saddle

    def mount_was(self) -> Was:
        """The ``was`` (and ``wac``) of lifecycle hooks: no request."""
        return Was(self._app(), {"skitai.was": self.engine_was, "SCRIPT_NAME": self.mount_point,
                          "PATH_INFO": "", "skitai.mount_time": True})

    def skitai_mount(self, context: Mapping[str, Any]) -> None:
        """Called by the engine once per worker after import (``skitai.worker.apps``)."""
        with self._mount_lock:
            self.engine_was = context.get("was")
            self.loop = context.get("loop")
            threads = context.get("threads")
            if isinstance(threads, int):
                self.numthreads = threads
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
        pool, self._broadcast_pool = self._broadcast_pool, None
        if pool is not None:
            pool.shutdown(wait=False)  # handlers already queued still run
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
                    return self._run_broadcast(f, args, kwargs)
                return None
            engine.on_broadcast("*")(handler)
            self._bound.append(("*", handler))
        else:
            def direct(*args: Any, **kwargs: Any) -> Any:
                return self._run_broadcast(f, args, kwargs)
            engine.on_broadcast(event)(direct)
            self._bound.append((event, direct))

    def _run_broadcast(self, f: F, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The engine delivers broadcasts on the worker's loop; the seed's handlers wait on
        ``was`` calls (``was.sqlite3(...).execute(...).wait()``), which must not block the
        loop: a plain function runs on this app's broadcast thread instead (one thread:
        handlers run in the order the events came).  An ``async def`` one stays on the
        loop; outside a loop (no master, a test) the handler runs in the caller."""
        import asyncio  # here: importing Saddle pulls in no asyncio (tests/unit/saddle/test_layers)
        import concurrent.futures

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return f(self.mount_was(), *args, **kwargs)
        if inspect.iscoroutinefunction(f):
            return f(self.mount_was(), *args, **kwargs)
        with self._mount_lock:
            if self._broadcast_pool is None:
                self._broadcast_pool = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix=f"broadcast-{self.name}")
            pool = self._broadcast_pool
        pool.submit(self._broadcast_guarded, f, args, kwargs)
        return None

    def _broadcast_guarded(self, f: F, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            f(self.mount_was(), *args, **kwargs)
        except Exception:  # noqa: BLE001 - one handler's failure is logged, the next runs
            log.exception("broadcast handler %s of %s failed",
                          getattr(f, "__qualname__", f), self.name)

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

            reloader = self._reloader = Reloader(self._app())
        reloader.check()


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
