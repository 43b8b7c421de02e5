"""Real Flask and Django apps, unmodified, under a mount point."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import start_app
from tests.rawhttp import exchange

flask = pytest.importorskip("flask", reason="Flask is in the test extras")
django = pytest.importorskip("django", reason="Django is in the test extras")


def test_flask_under_sub_with_url_for(tmp_path: Path) -> None:
    (tmp_path / "flaskapp.py").write_text(textwrap.dedent("""
        from flask import Flask, jsonify, request, url_for
        app = Flask(__name__)

        @app.route("/hello/<name>")
        def hello(name):
            return jsonify(name=name, url=url_for("hello", name=name),
                           root=request.script_root, debug=app.debug,
                           pref=app.config.get("FROM_PREF"))

        @app.route("/form", methods=["POST"])
        def form():
            return jsonify(dict(request.form))
    """))
    srv = start_app(tmp_path, """
        import skitai
        if __name__ == "__main__":
            pref = skitai.pref()
            pref.debug = True
            pref.config["FROM_PREF"] = "yes"
            skitai.mount("/sub", "flaskapp.py", "app", pref)
            skitai.run()
    """)
    try:
        resps, _ = exchange(srv.host, srv.port, b"GET /sub/hello/world HTTP/1.1\r\nHost: t\r\n\r\n")
        data = json.loads(resps[0].body)
        assert data == {"name": "world", "url": "/sub/hello/world", "root": "/sub",
                        "debug": True, "pref": "yes"}
        body = b"a=1&b=two"
        resps, _ = exchange(srv.host, srv.port,
                            b"POST /sub/form HTTP/1.1\r\nHost: t\r\nContent-Type: "
                            b"application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\n" + body)
        assert json.loads(resps[0].body) == {"a": "1", "b": "two"}
        resps, _ = exchange(srv.host, srv.port, b"GET /hello/world HTTP/1.1\r\nHost: t\r\n\r\n")
        assert resps[0].status == 404  # nothing is mounted at /
    finally:
        srv.stop()


def test_django_under_sub_with_reverse(tmp_path: Path) -> None:
    proj = tmp_path / "mysite"
    (proj / "mysite").mkdir(parents=True)
    (proj / "manage.py").write_text("")
    (proj / "mysite" / "__init__.py").write_text("")
    (proj / "mysite" / "settings.py").write_text(textwrap.dedent("""
        SECRET_KEY = "test-only"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        ROOT_URLCONF = "mysite.urls"
        INSTALLED_APPS = []
        MIDDLEWARE = []
        DATABASES = {}
        USE_TZ = True
    """))
    (proj / "mysite" / "urls.py").write_text(textwrap.dedent("""
        from django.http import JsonResponse
        from django.urls import path, reverse

        def item(request, pk):
            return JsonResponse({"pk": pk, "url": reverse("item", args=[pk]),
                                 "path": request.path, "script": request.META["SCRIPT_NAME"]})

        urlpatterns = [path("items/<int:pk>/", item, name="item")]
    """))
    (proj / "mysite" / "wsgi.py").write_text(textwrap.dedent("""
        import os
        from django.core.wsgi import get_wsgi_application
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        application = get_wsgi_application()
    """))
    srv = start_app(tmp_path, """
        import skitai
        if __name__ == "__main__":
            skitai.mount_django("/sub", "mysite/mysite/wsgi.py")
            skitai.run()
    """)
    try:
        resps, _ = exchange(srv.host, srv.port, b"GET /sub/items/7/ HTTP/1.1\r\nHost: t\r\n\r\n")
        assert resps[0].status == 200, resps[0].body
        assert json.loads(resps[0].body) == {"pk": 7, "url": "/sub/items/7/",
                                             "path": "/sub/items/7/", "script": "/sub"}
    finally:
        srv.stop()


def test_app_import_error_stops_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module_here\napp = None\n")
    srv = start_app(tmp_path, """
        import skitai
        if __name__ == "__main__":
            skitai.mount("/", "broken.py", "app")
            skitai.run()
    """, wait=False)
    code = srv.proc.wait(30)
    srv.stop()
    assert code != 0
    assert "no_such_module_here" in srv.output
