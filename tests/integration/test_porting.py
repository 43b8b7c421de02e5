"""A 0.26 app ported as its README wrote it: the same file mounted twice, ``bootstrap(pref)``
beside a mounted file, ``[common] process-display-name`` (issue 10 items 4, 6, 14)."""

from __future__ import annotations

import textwrap
import urllib.request
from pathlib import Path

import psutil

SVC = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s %s" % (app.config["who"], getattr(app, "flavour", "-"))).encode()]
"""


def _get(server, path: str) -> str:
    with urllib.request.urlopen(server.url(path), timeout=10) as r:
        return r.read().decode()


def _titles(pid: int) -> list[str]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return sorted(" ".join(p.cmdline()).strip() for p in procs)


def test_the_same_file_mounted_twice_gets_one_app_per_mount(serve, tmp_path: Path) -> None:
    (tmp_path / "svc.py").write_text(SVC)
    server = serve("""
        import skitai
        pa, pb = skitai.pref(), skitai.pref()
        pa.config.who, pb.config.who = "a", "b"
        pb.flavour = "bee"
        skitai.mount("/a", "svc.py", "app", pa)
        skitai.mount("/b", "svc.py", "app", pb)
        skitai.run(workers=1)
    """)
    assert _get(server, "/a") == "a -"
    assert _get(server, "/b") == "b bee"


def test_bootstrap_runs_once_in_app_py_and_its_calls_count(serve, tmp_path: Path) -> None:
    pkg = tmp_path / "shop"
    pkg.mkdir()
    (pkg / "app.py").write_text(SVC)
    (pkg / "extra.py").write_text(SVC.replace('app.config["who"]', '"extra"'))
    (pkg / "cronjob.py").write_text("")
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        import os
        import skitai
        from . import cronjob  # the seed's relative import

        def bootstrap(pref):
            with open(os.path.join(os.path.dirname(__file__), "booted"), "a") as f:
                f.write("%d\\n" % os.getpid())
            pref.config.who = "booted:" + pref.config.get("given", "")
            if pref.config.get("enable_cron"):
                skitai.cron("0 0 1 1 *", "true %s" % cronjob.__file__)
            skitai.mount("/extra", "shop/extra.py")
    """))
    server = serve("""
        import skitai
        pref = skitai.pref()
        pref.config.given = "yes"
        pref.config.enable_cron = True
        skitai.mount("/", "shop/app.py", "app", pref)
        skitai.run(workers=2)
    """)
    assert _get(server, "/") == "booted:yes -"
    assert _get(server, "/extra") == "extra -"
    # Once, in the app.py process (the master): not once per worker.
    assert (pkg / "booted").read_text().split() == [str(server.proc.pid)]
    assert any(t.endswith(": cron") for t in _titles(server.proc.pid))


def test_process_display_name_from_common_names_the_processes(serve, tmp_path: Path) -> None:
    conf = tmp_path / "skitai.conf"
    conf.write_text("[common]\nprocess-display-name = myshop\n")
    (tmp_path / "svc.py").write_text(SVC)
    server = serve("""
        import skitai
        skitai.mount("/", "svc.py")
        skitai.run(workers=1)
    """, "-f", str(conf))
    titles = _titles(server.proc.pid)
    assert any(t.startswith("skitai(myshop): master") for t in titles), titles
    assert any(t.startswith("skitai(myshop): worker #0") for t in titles), titles
