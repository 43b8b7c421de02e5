"""``use_reloader`` (issue 10 item 7): an edit of a mounted app's code reloads the workers
gracefully; a broken edit keeps the old workers and logs why; the seed's ``package``
folder beside the app is watched too; ``app.use_reloader = True`` in the app works as
``pref.use_reloader``."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

SVC = """
from package.helper import WORD
{extra}
VERSION = {version!r}

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s %s" % (VERSION, WORD)).encode()]
"""


def _get(server) -> str:
    try:
        with urllib.request.urlopen(server.url("/"), timeout=10) as r:
            return r.read().decode()
    except (urllib.error.URLError, ConnectionError) as exc:
        return f"error: {exc}"


def _wait_for(server, body: str, mark: int, timeout: float = 90.0) -> None:
    """Until a reload logged after ``mark`` is complete (the new generation serves and
    the old one drains: no old worker answers any more) and ``body`` is the answer."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        if "serves; draining the previous one" in server.output[mark:]:
            seen = _get(server)
            if seen == body:
                return
        time.sleep(0.2)
    raise AssertionError(f"still {seen!r}, not {body!r}:\n{server.output}")


def _write(path: Path, text: str) -> None:
    # A new size at every version: Python's bytecode cache compares a source's size and
    # its mtime in whole seconds, and these edits come within one second.
    path.write_text(text)


def _prepare(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "package").mkdir()
    _write(tmp_path / "package" / "__init__.py", "")
    _write(tmp_path / "package" / "helper.py", 'WORD = "a"\n')
    svc = tmp_path / "svc.py"
    _write(svc, SVC.format(version="v1", extra=extra))
    return svc


def test_an_edit_reloads_and_a_broken_edit_keeps_the_old_workers(serve, tmp_path: Path) -> None:
    svc = _prepare(tmp_path)
    server = serve("""
        import skitai
        pref = skitai.pref()
        pref.use_reloader = True
        skitai.mount("/", "svc.py", "app", pref)
        skitai.run(workers=2)
    """)
    assert _get(server) == "v1 a"
    mark = len(server.output)
    _write(svc, SVC.format(version="v22", extra=""))
    _wait_for(server, "v22 a", mark)
    # A broken edit: the new generation cannot import it; the old one keeps serving.
    mark = len(server.output)
    _write(svc, SVC.format(version="v333", extra="def broken(:\n"))
    deadline = time.monotonic() + 90
    while "reload failed" not in server.output[mark:] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "reload failed" in server.output[mark:], server.output
    assert "SyntaxError" in server.output[mark:]
    assert _get(server) == "v22 a"
    # The fix reloads again; so does an edit in the seed's package folder.
    mark = len(server.output)
    _write(svc, SVC.format(version="v4444", extra=""))
    _wait_for(server, "v4444 a", mark)
    mark = len(server.output)
    _write(tmp_path / "package" / "helper.py", 'WORD = "bb"\n')
    _wait_for(server, "v4444 bb", mark)


def test_app_use_reloader_set_in_the_app_itself(serve, tmp_path: Path) -> None:
    svc = _prepare(tmp_path, extra="")
    _write(svc, SVC.format(version="v1", extra="") + "app.use_reloader = True\n")
    server = serve("""
        import skitai
        skitai.mount("/", "svc.py")
        skitai.run(workers=1)
    """)
    assert _get(server) == "v1 a"
    mark = len(server.output)
    _write(svc, SVC.format(version="v22", extra="") + "app.use_reloader = True\n")
    _wait_for(server, "v22 a", mark)


def test_without_use_reloader_an_edit_changes_nothing(serve, tmp_path: Path) -> None:
    svc = _prepare(tmp_path)
    server = serve("""
        import skitai
        skitai.mount("/", "svc.py")
        skitai.run(workers=1)
    """)
    _write(svc, SVC.format(version="v22", extra=""))
    time.sleep(3)  # a debounce and more: no reload may come
    assert _get(server) == "v1 a"
    assert "reloader" not in server.output
