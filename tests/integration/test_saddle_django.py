"""Saddle with Django, through the engine: a login in the mounted Django admin is
``was.django.user`` in a Saddle view (and a Saddle login opens the admin);
``skitai.use_django_models`` lets the app import models at the top; ``app.model_signal``
turns model saves into setlu stamps and ``model-changed`` broadcasts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, start_app

httpx = pytest.importorskip("httpx", reason="httpx is in the test extras")
pytest.importorskip("django", reason="Django is in the test extras")

SETTINGS = """
SECRET_KEY = "test-only-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.messages"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.middleware.csrf.CsrfViewMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %(db)r}}
USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

SADDLE_APP = '''
import json, os
from django.contrib.auth.models import User   # at the top: use_django_models set Django up
from skitai.saddle import Saddle

app = Saddle(__name__)
app.model_signal(modeler="django")
EVENTS = os.environ["TEST_EVENTS"]


@app.on_broadcast("model-changed")
def changed(was, *args, **kwargs):
    with open(EVENTS, "a") as f:
        f.write(json.dumps(kwargs) + "\\n")


@app.route("/whoami")
def whoami(was):
    user = was.django.user
    return {"user": user.username if user.is_authenticated else None}


@app.route("/login")
def login(was, username, password):
    if was.django.authenticate(username, password) is None:
        return was.response("403 Forbidden", "bad password")
    was.django.login(username)
    return "in"


@app.route("/logout")
def logout(was):
    was.django.logout()
    return "out"


@app.route("/adduser")
def adduser(was, name):
    User.objects.create_user(name, password="x")
    return {"stamp": was.getlu("django.contrib.auth.models.User")}
'''


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root: Path = tmp_path_factory.mktemp("saddledj")
    proj = root / "mysite"
    (proj / "mysite").mkdir(parents=True)
    (proj / "manage.py").write_text("")
    (proj / "mysite" / "__init__.py").write_text("")
    (proj / "mysite" / "settings.py").write_text(SETTINGS % {"db": str(root / "db.sqlite3")})
    (proj / "mysite" / "urls.py").write_text(textwrap.dedent("""
        from django.contrib import admin
        from django.urls import path
        urlpatterns = [path("admin/", admin.site.urls)]
    """))
    (proj / "mysite" / "wsgi.py").write_text(textwrap.dedent("""
        import os
        from django.core.wsgi import get_wsgi_application
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
        application = get_wsgi_application()
    """))
    env = dict(os.environ, PYTHONPATH=str(proj), DJANGO_SETTINGS_MODULE="mysite.settings")
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], env=env, check=True,
                   cwd=root, timeout=120)
    subprocess.run([sys.executable, "-c", "import django; django.setup(); "
                    "from django.contrib.auth.models import User; "
                    "User.objects.create_superuser('admin', 'a@example.com', 'secret-pw')"],
                   env=env, check=True, cwd=root, timeout=60)
    (root / "saddleapp.py").write_text(SADDLE_APP)
    server = start_app(root, """
        import skitai
        if __name__ == "__main__":
            skitai.use_django_models("mysite/mysite/settings.py")
            skitai.addlu("django.contrib.auth.models.User")
            skitai.mount_django("/django", "mysite/mysite/wsgi.py")
            skitai.mount("/app", "saddleapp.py", "app")
            skitai.run(workers=2, threads=2)
    """, env={"TEST_EVENTS": str(root / "events.jsonl")})
    yield server
    server.stop()


def admin_login(c: httpx.Client) -> httpx.Response:
    page = c.get("/django/admin/login/", params={"next": "/django/admin/"})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    return c.post("/django/admin/login/?next=/django/admin/", data={
        "csrfmiddlewaretoken": token.group(1), "username": "admin", "password": "secret-pw",
        "next": "/django/admin/"})


def test_admin_login_is_saddle_user(srv: ServerProcess) -> None:
    with httpx.Client(base_url=srv.url(""), timeout=30) as c:
        assert c.get("/app/whoami").json() == {"user": None}
        r = admin_login(c)
        assert r.status_code == 302 and r.headers["location"] == "/django/admin/", r.text[:300]
        assert c.get("/app/whoami").json() == {"user": "admin"}
        assert c.get("/app/logout").text == "out"
        assert c.get("/app/whoami").json() == {"user": None}
        assert c.get("/django/admin/").status_code == 302  # logged out for Django too


def test_saddle_login_opens_the_admin(srv: ServerProcess) -> None:
    with httpx.Client(base_url=srv.url(""), timeout=30) as c:
        assert c.get("/app/login", params={"username": "admin", "password": "nope"}).status_code == 403
        assert c.get("/django/admin/").status_code == 302
        assert c.get("/app/login", params={"username": "admin", "password": "secret-pw"}).text == "in"
        r = c.get("/django/admin/")
        assert r.status_code == 200 and "Site administration" in r.text


def test_model_signal_setlu_and_broadcast(srv: ServerProcess) -> None:
    before = time.time()
    r = httpx.get(srv.url("/app/adduser"), params={"name": "newbie"}, timeout=30)
    assert r.status_code == 200 and r.json()["stamp"] >= before - 1
    events = srv.workdir / "events.jsonl"
    deadline = time.time() + 15
    seen: list[dict[str, object]] = []
    while time.time() < deadline:
        if events.exists():
            seen = [json.loads(line) for line in events.read_text().splitlines()]
            if len(users(seen)) >= 2:  # both workers hear it
                break
        time.sleep(0.2)
    assert len(users(seen)) == 2, seen  # one per worker
    assert all(e["pk"] == users(seen)[0]["pk"] for e in users(seen))


def users(events: list[dict[str, object]]) -> list[dict[str, object]]:
    """The broadcasts of the user this test created (logins also save users: U)."""
    return [e for e in events if e.get("x_model_class") == "django.contrib.auth.models.User"
            and e.get("x_operation") == "C"]
