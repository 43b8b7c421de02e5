"""``bootstrap(pref)``: the seed's hook in an ``__init__.py`` beside a mounted app file.

It runs once, in app.py, when ``skitai.mount()`` names the file: before the pref is
snapshotted (what it puts in ``pref.config`` reaches the app) and before ``skitai.run()``
freezes the configuration (its ``skitai.mount()`` and ``skitai.cron()`` calls count).
The ``__init__.py`` is imported as a package under a private name, so the seed's
``from . import cronjob`` works and the folder's own name may be anything.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from types import ModuleType

from skitai.config.pref import Pref

# Packages whose bootstrap is running: a mount it makes of a sibling file (the seed's
# pattern) must not start the same bootstrap again.
_running: set[str] = set()


def hook_for(app_file: str) -> ModuleType | None:
    """The package beside ``app_file`` when its ``__init__.py`` defines ``bootstrap``
    (and is not already running it)."""
    directory = os.path.dirname(os.path.abspath(app_file))
    init = os.path.join(directory, "__init__.py")
    if directory in _running or not os.path.isfile(init):
        return None
    module = _import_package(directory, init)
    return module if callable(getattr(module, "bootstrap", None)) else None


def run(module: ModuleType, pref: Pref) -> None:
    directory = os.path.dirname(module.__file__ or "")
    _running.add(directory)
    try:
        module.bootstrap(pref)
    finally:
        _running.discard(directory)


def _import_package(directory: str, init: str) -> ModuleType:
    stem = re.sub(r"\W", "_", os.path.basename(directory)) or "app"
    name = f"skitai_boot_{stem}_{hashlib.sha1(directory.encode()).hexdigest()[:8]}"
    return import_private(name, init, package_dir=directory)


def import_private(name: str, path: str, package_dir: str | None = None) -> ModuleType:
    """Import the file ``path`` as the module ``name``, once (then ``sys.modules`` has
    it); as a package (relative imports work) when ``package_dir`` is given."""
    if name in sys.modules:
        return sys.modules[name]
    search = [package_dir] if package_dir else None
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
