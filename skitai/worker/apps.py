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
import os
import sys
from types import ModuleType
from typing import Any

from skitai.config import bootstrap
from skitai.config.model import MountSpec
from skitai.config.pref import Pref


class AppLoadError(Exception):
    """A mounted app could not be imported or found; the worker exits APP_LOAD_ERROR."""


def load(spec: MountSpec) -> Any:
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
