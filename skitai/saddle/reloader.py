"""``app.use_reloader``: watch the app's files while it serves (at most one look a second,
from the request path; nothing runs when it is off).

- a module in ``decorative/`` changed: it is re-imported and its ``decorate(app)`` runs
  again, after the routes its last run added are dropped (the worker keeps serving);
- the app file or a module in its packages (``package/``, ``contrib/``,
  ``app.add_package(...)``) changed: the app asks the engine for a rolling reload
  (``was.restart()``: new workers import the new code, ``before_remount``/``remounted``
  run there, ``before_umount``/``umounted`` in the old ones).  Without the engine it logs
  that the server must be restarted.

Templates need no watching: Jinja checks them itself when ``use_reloader`` or ``debug``
is on.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skitai.saddle.app import Saddle

log = logging.getLogger("skitai.app")

EVERY = 1.0


class Reloader:
    def __init__(self, app: Saddle) -> None:
        self.app = app
        self.next_check = 0.0
        self.mtimes = self._scan()
        self.restart_asked = False

    def _files(self) -> list[str]:
        app = self.app
        files = []
        module = sys.modules.get(app.import_name)
        path = getattr(module, "__file__", None)
        if path:
            files.append(os.path.abspath(path))
        for folder in ("decorative", *app.packages):
            top = os.path.join(app.root, folder)
            for base, _, names in os.walk(top):
                files.extend(os.path.join(base, n) for n in names if n.endswith(".py"))
        return files

    def _scan(self) -> dict[str, float]:
        out = {}
        for path in self._files():
            try:
                out[path] = os.stat(path).st_mtime
            except OSError:
                continue
        return out

    def check(self) -> None:
        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + EVERY
        current = self._scan()
        changed = [p for p, m in current.items() if self.mtimes.get(p) != m]
        changed += [p for p in self.mtimes if p not in current]
        self.mtimes = current
        if not changed:
            return
        decorative = os.path.join(self.app.root, "decorative") + os.sep
        rest = [p for p in changed if not p.startswith(decorative)]
        for path in changed:
            if path.startswith(decorative) and os.path.exists(path):
                self._redecorate(path)
        if rest:
            self._restart(rest)

    def _redecorate(self, path: str) -> None:
        app = self.app
        name = "decorative." + os.path.splitext(os.path.basename(path))[0]
        try:
            module = sys.modules.get(name)
            module = importlib.reload(module) if module is not None else \
                importlib.import_module(name)
            app.redecorate(name, module)
            log.info("%s: reloaded %s", app.name, path)
        except Exception:  # noqa: BLE001 - a broken edit must not stop the serving app
            log.exception("%s: cannot reload %s", app.name, path)

    def _restart(self, paths: list[str]) -> None:
        if self.restart_asked:
            return
        engine: Any = self.app.engine_was
        if engine is None:
            log.warning("%s: %s changed; restart the server to load it", self.app.name,
                        ", ".join(paths))
            return
        self.restart_asked = True
        log.info("%s: %s changed; asking for a rolling reload", self.app.name, ", ".join(paths))
        engine.restart()
