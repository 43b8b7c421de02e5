"""``use_reloader``: reload the workers when a mounted app's code changes (posix).

Worker #0 watches, with ``watchfiles`` (Rust ``notify``: inotify on Linux, the watcher
uvicorn uses), the ``.py`` files of every app mounted by file whose ``use_reloader`` is
true (``pref.use_reloader = True``, or ``app.use_reloader = True`` in the app itself, as
the seed wrote it): the files beside the mounted file, and the package folders under it
(the seed's ``package``, ``contrib`` and ``decorative``, and any folder with an
``__init__.py``).  A change (debounced: an editor's burst of writes is one change) asks
the master for a reload, the same graceful rolling reload as HUP: new workers first, then
the old ones drain.  A broken edit fails the new generation; the master logs why and the
old workers keep serving, and worker #0 keeps watching for the fix.

Only one worker watches, and it starts watching only once it serves; so that a change
made while it was starting (after it imported the apps, before the watcher was in place)
is not missed, once the watcher runs it compares the files' times with the moment the
apps were imported.  The master queues one more reload when a request arrives during a
reload.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from skitai.config.model import MountSpec

log = logging.getLogger("skitai.server")

# Folders the seed watched beside the app (its Saddle "package", "contrib", "decorative").
SEED_PACKAGES = ("package", "contrib", "decorative")
DEBOUNCE_MS = 800
# How long the watcher thread waits before it reports "nothing yet": its first report is
# when the catch-up check runs (the watcher is in place by then).
FIRST_LOOK_MS = 500


def watched_file(spec: MountSpec, app: Any) -> str | None:
    """The mounted file to watch when this mount asks for reloading, else None.  An app
    object app.py built itself is inherited from the master, which a reload does not
    re-run: watching its file would reload nothing new (that takes a restart)."""
    wanted = getattr(app, "use_reloader", None)
    if wanted is None:
        wanted = getattr(spec.pref, "use_reloader", False)
    if not wanted or not spec.target:
        return None
    if spec.obj is not None:
        log.info("reloader: the app mounted on %s is built by %s itself; a change there "
                 "needs a restart, not a reload", spec.point, os.path.basename(spec.target))
        return None
    return spec.target


def roots(files: Iterable[str]) -> tuple[list[str], list[str]]:
    """(folders watched flat, folders watched with their subfolders)."""
    flat: list[str] = []
    deep: list[str] = []
    for target in files:
        base = os.path.dirname(os.path.abspath(target))
        if base not in flat:
            flat.append(base)
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            sub = os.path.join(base, name)
            if not os.path.isdir(sub) or name.startswith((".", "__")):
                continue
            if name in SEED_PACKAGES or os.path.isfile(os.path.join(sub, "__init__.py")):
                if sub not in deep:
                    deep.append(sub)
    return flat, deep


def is_source(path: str) -> bool:
    return path.endswith(".py")


def changed_since(flat: list[str], deep: list[str], since: float) -> list[str]:
    """Source files modified at or after ``since`` (a wall-clock time)."""
    found: list[str] = []
    for folder, recursive in [(f, False) for f in flat] + [(d, True) for d in deep]:
        for top, dirs, names in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))] if recursive else []
            for name in names:
                path = os.path.join(top, name)
                try:
                    if is_source(path) and os.stat(path).st_mtime >= since:
                        found.append(path)
                except OSError:
                    continue
    return found


class Reloader:
    """Runs on the worker's loop; ``request()`` asks the master for a reload."""

    def __init__(self, files: list[str], since: float, request: Callable[[], None],
                 stopping: Callable[[], bool]) -> None:
        self.flat, self.deep = roots(files)
        self.since = since
        self.request = request
        self.stopping = stopping
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        log.info("reloader: watching %s", ", ".join(self.flat + self.deep))
        self.tasks = [loop.create_task(self._watch(self.flat, recursive=False))]
        if self.deep:
            self.tasks.append(loop.create_task(self._watch(self.deep, recursive=True)))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _watch(self, folders: list[str], recursive: bool) -> None:
        import watchfiles

        def source(change: watchfiles.Change, path: str) -> bool:
            return is_source(path) and "__pycache__" not in path

        late = True  # the first report: look for changes made before the watcher ran
        try:
            async for changes in watchfiles.awatch(
                    *folders, watch_filter=source, recursive=recursive, debounce=DEBOUNCE_MS,
                    rust_timeout=FIRST_LOOK_MS, yield_on_timeout=True):
                paths = {path for _change, path in changes}
                if late:
                    late = False
                    paths.update(changed_since(folders if not recursive else [],
                                               folders if recursive else [], self.since))
                if paths:
                    self._changed(sorted(paths))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a watcher failure must not stop the worker
            log.error("reloader: watching %s failed: %s; no more automatic reloads",
                      ", ".join(folders), exc)

    def _changed(self, paths: list[str]) -> None:
        if self.stopping():
            return  # this worker is draining: its successor watches
        shown = ", ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
        log.info("reloader: %s changed; asking the master for a reload", shown)
        self.request()
