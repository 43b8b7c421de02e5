"""The reloader's pure parts: what it watches, and the late-change check."""

from __future__ import annotations

import os
import time
from pathlib import Path

from skitai.config.model import MountSpec
from skitai.config.pref import Pref
from skitai.worker import reloader


class App:
    def __call__(self, environ, start_response):  # pragma: no cover - never served here
        return []


def test_roots_are_the_app_folder_flat_and_its_packages_deep(tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text("")
    for name in ("package", "contrib", "lib", "static", "__pycache__", ".git"):
        (tmp_path / name).mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("")
    flat, deep = reloader.roots([str(tmp_path / "svc.py")])
    assert flat == [str(tmp_path)]
    assert deep == [str(tmp_path / "contrib"), str(tmp_path / "lib"), str(tmp_path / "package")]


def test_which_mounts_are_watched(tmp_path: Path) -> None:
    target = str(tmp_path / "svc.py")
    on, off = Pref(use_reloader=True), Pref()
    assert reloader.watched_file(MountSpec("/", "app", target, pref=on), App()) == target
    assert reloader.watched_file(MountSpec("/", "app", target, pref=off), App()) is None
    seed = App()
    seed.use_reloader = True  # type: ignore[attr-defined]  # the seed's app.use_reloader
    assert reloader.watched_file(MountSpec("/", "app", target), seed) == target
    # An object app.py built is the master's: a reload would not re-import it.
    assert reloader.watched_file(MountSpec("/", "app", target, pref=on, obj=seed), seed) is None


def test_changes_since_the_import_are_found(tmp_path: Path) -> None:
    (tmp_path / "package").mkdir()
    old, new = tmp_path / "old.py", tmp_path / "package" / "new.py"
    old.write_text("")
    (tmp_path / "notes.txt").write_text("")
    past = time.time() - 60
    os.utime(old, (past, past))
    os.utime(tmp_path / "notes.txt", (past, past))
    since = time.time() - 30
    new.write_text("")
    flat, deep = reloader.roots([str(old)])
    assert reloader.changed_since(flat, deep, since) == [str(new)]
