"""Loading what ``skitai.mount()`` declared, inside a worker after fork.

A file-path mount is imported fresh in every worker generation (so a HUP reload picks up
changed code), once per mount: the same file mounted twice gives two app objects, each
with its own ``pref``.  An object mounted directly is the one app.py built (inherited by
fork).  ``pref``'s attributes are then set on the app and ``pref.config`` merged into
``app.config``.  (``bootstrap(pref)`` already ran in app.py, at mount time:
``skitai.config.bootstrap``.)
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from skitai.config import bootstrap
from skitai.config.model import MountSpec
from skitai.config.pref import Pref


@runtime_checkable
class Mountable(Protocol):
    """An app that takes part in the engine's lifecycle (Saddle does; the engine never
    imports Saddle): ``skitai_mount(context)`` once per worker after import,
    ``skitai_umount()`` when the worker stops.  The context keys: ``was`` (the engine's
    ``skitai.was``), ``point``, ``host``, ``name`` (the file's stem: ``was.apps[name]``),
    ``apps`` (a dict shared by the apps of one host), ``loop`` (the worker's event loop),
    ``threads`` and ``remount`` (True in a worker of a reloaded generation)."""

    def skitai_mount(self, context: Mapping[str, Any]) -> None: ...

    def skitai_umount(self) -> None: ...


class AppLoadError(Exception):
    """A mounted app could not be imported or found; the worker exits APP_LOAD_ERROR."""


def load(spec: MountSpec) -> Any:
    _setup_django()
    if spec.path and spec.path not in sys.path:
        sys.path.insert(0, spec.path)
    if spec.obj is not None:
        app = spec.obj
    elif spec.module:
        app = _attr(importlib.import_module(spec.module), spec)
    elif spec.target:
        directory = os.path.dirname(spec.target)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        app = _attr(_import_file(spec.target, f"{spec.host or ''}{spec.point}"), spec)
    else:
        raise AppLoadError(f"mount {spec.point}: nothing to load")
    if spec.pref is not None:
        apply_pref(app, spec.pref)
    if not callable(app):
        raise AppLoadError(f"mount {spec.point}: {spec.app_name!r} in {spec.target} is not callable")
    return app


def _setup_django() -> None:
    """``skitai.use_django_models()``: Django's app registry is ready before any app
    (which may import its models at the top) is imported."""
    if os.environ.get("SKITAI_DJANGO_SETUP") == "1":
        if not importlib.import_module("django.apps").apps.ready:
            importlib.import_module("django").setup()


def _attr(module: ModuleType, spec: MountSpec) -> Any:
    try:
        return getattr(module, spec.app_name)
    except AttributeError:
        raise AppLoadError(
            f"mount {spec.point}: {module.__file__} has no {spec.app_name!r}") from None


def _import_file(path: str, mount: str) -> ModuleType:
    """Import a .py file under a private module name (never ``__main__``, so app.py's
    ``if __name__ == "__main__":`` block does not run again), one per mount point."""
    stem = os.path.splitext(os.path.basename(path))[0]
    key = f"{path}\0{mount}".encode()
    return bootstrap.import_private(f"skitai_app_{stem}_{hashlib.sha1(key).hexdigest()[:8]}", path)


def apply_pref(app: Any, pref: Pref) -> None:
    for name, value in pref.attributes().items():
        try:
            setattr(app, name, value)
        except (AttributeError, TypeError):
            pass  # e.g. a bound method or a slotted object: the pref does not apply
    if pref.config:
        config = getattr(app, "config", None)
        if config is None:
            try:
                app.config = dict(pref.config)
            except (AttributeError, TypeError):
                pass
        elif hasattr(config, "update"):
            config.update(pref.config)


def mount(app: Any, spec: MountSpec, context: dict[str, Any]) -> bool:
    """Give a ``Mountable`` app its mount context; False for a plain WSGI app."""
    if not isinstance(app, Mountable):
        return False
    stem = os.path.splitext(os.path.basename(spec.target))[0] if spec.target else ""
    name = stem or (spec.module or "").rsplit(".", 1)[-1]
    app.skitai_mount({**context, "point": spec.point, "host": spec.host,
                      **({"name": name} if name else {})})
    return True


def umount(mounted: list[Any]) -> None:
    """The apps' ``skitai_umount()`` in reverse mount order; one failing stops no other."""
    for app in reversed(mounted):
        try:
            app.skitai_umount()
        except Exception:  # noqa: BLE001 - the worker is stopping: log and go on
            logging.getLogger("skitai.app").exception("umount of %r failed", app)
    mounted.clear()
