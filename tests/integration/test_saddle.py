"""Saddle through the real engine (threads=0 and a thread pool) and under wsgiref: one
app file (tests/fixtures/saddleapp), the same checks on each server."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, start_app

FIXTURE = Path(__file__).parent.parent / "fixtures" / "saddleapp"
MODES = ("engine-inline", "engine-threads", "wsgiref")


class Target:
    def __init__(self, mode: str, server: ServerProcess, workdir: Path) -> None:
        self.mode = mode
        self.server = server
        self.workdir = workdir
        self.engine = mode.startswith("engine")
        self.client = httpx.Client(base_url=server.url("").rstrip("/"), timeout=20)

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.client.get(path, **kw)  # type: ignore[arg-type]

    def post(self, path: str, **kw: object) -> httpx.Response:
        return self.client.post(path, **kw)  # type: ignore[arg-type]

    def state(self) -> dict[str, object]:
        return self.get("/sub/state").json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=MODES)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    mode = request.param
    workdir = tmp_path_factory.mktemp(mode)
    shutil.copytree(FIXTURE, workdir, dirs_exist_ok=True)
    (workdir / "uploads").mkdir()
    env = {"SADDLE_UPLOADS": str(workdir / "uploads"),
           "SADDLE_UMOUNT_FILE": str(workdir / "umount.log"),
           "SADDLE_THREADS": "4" if mode == "engine-threads" else "0"}
    if mode == "wsgiref":
        env["PYTHONPATH"] = os.pathsep.join([str(workdir), str(Path(__file__).parent.parent.parent)])
        source, filename = (workdir / "wsgiref_serve.py").read_text(), "wsgiref_serve.py"
    else:
        source, filename = (workdir / "serve.py").read_text(), "serve.py"
    server = start_app(workdir, source, env=env, filename=filename)
    t = Target(mode, server, workdir)
    yield t
    t.client.close()
    server.stop()


# --- app, layout, lifecycle ----------------------------------------------------------------------
def test_hello_and_lifecycle(target: Target) -> None:
    r = target.get("/sub/")
    assert r.status_code == 200 and r.text == "hello"
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    state = target.state()
    assert state["lifecycle"] == ["before_mount", "mounted:/sub"]
    assert state["events"] == ["app_starting"]
    assert state["counter"] >= 1  # wac.register("counter", ...) -> was.counter


def test_decorative_module_routes(target: Target) -> None:
    r = target.get("/sub/decorated")
    assert r.status_code == 200 and r.text == "decorated by decorative.extra"


# --- routing -------------------------------------------------------------------------------------
def test_url_parameter_and_query_argument(target: Target) -> None:
    assert target.get("/sub/episode/100", params={"topic": "Python"}).json() == {"id": 100, "topic": "Python"}
    assert target.get("/sub/episode/100").json() == {"id": 100, "topic": "none"}
    assert target.get("/sub/episode/abc").status_code == 404  # int converter


def test_converters(target: Target) -> None:
    assert target.get("/sub/typed/1.5/a/b/c.txt").json() == {"x": 1.5, "rest": "a/b/c.txt"}
    assert target.get("/sub/name/hans%20roh").json() == {"name": "hans roh"}
    assert target.get("/sub/name/h%C3%A9").json() == {"name": "hé"}  # UTF-8 in the path


def test_unexpected_query_parameter_is_400_unless_karg(target: Target) -> None:
    r = target.get("/sub/episode/1", params={"other": "x"})
    assert r.status_code == 400 and "other" in r.text
    r = target.get("/sub/kw/1", params={"a": "1", "b": ["2", "3"]})
    assert r.json() == {"id": 1, "karg": {"a": "1", "b": ["2", "3"]},
                        "args": {"id": 1, "a": "1", "b": ["2", "3"]}}


def test_405_with_allow_and_options(target: Target) -> None:
    r = target.get("/sub/form")
    assert r.status_code == 405
    assert r.headers["allow"] == "OPTIONS, POST"
    r = target.client.options("/sub/form")
    assert r.status_code == 200 and r.headers["allow"] == "OPTIONS, POST"


def test_415_for_other_content_types(target: Target) -> None:
    r = target.post("/sub/xml", content=b"<a/>", headers={"Content-Type": "text/xml"})
    assert r.status_code == 200 and r.content == b"<a/>"
    r = target.post("/sub/xml", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 415


def test_trailing_slashes_as_flask(target: Target) -> None:
    r = target.get("/sub/docs", params={"q": "1"})
    assert r.status_code == 308 and r.headers["location"] == "/sub/docs/?q=1"
    assert target.get("/sub/docs/").text == "docs"
    assert target.get("/sub/").status_code == 200
    assert target.get("/sub/episode/1/").status_code == 404  # strict: no slash added
    assert target.get("/sub/loose").text == "loose"
    assert target.get("/sub/loose/").text == "loose"


def test_url_building_under_the_mount_point(target: Target) -> None:
    data = target.get("/sub/urls").json()
    assert data["episode"] == "/sub/episode/7"
    assert data["topic"] == "/sub/episode/7?topic=a+b"
    assert data["name"] == "/sub/name/Your_Name"
    if target.engine:  # apps mounted on the same host
        assert data["apps"] == ["app", "search"]
        assert data["search"] == "/search/query?q=x+y"
        assert target.get("/search/query", params={"q": "z"}).json() == {"q": "z", "main": "/sub/episode/1"}
    else:
        assert data["apps"] == ["app"]


# --- parameters from bodies --------------------------------------------------------------------
def test_form_view_takes_form_or_json(target: Target) -> None:
    r = target.post("/sub/form", data={"name": "hans", "comment": "hi"})
    assert r.json() == {"name": "hans", "form": {"comment": "hi"}}
    r = target.post("/sub/form", json={"name": "roh", "n": 2})
    assert r.json() == {"name": "roh", "form": {"n": 2}}
    r = target.post("/sub/form", json={"comment": "no name"})
    assert r.status_code == 400 and "name" in r.text


def test_composed_parameters(target: Target) -> None:
    r = target.post("/sub/composed/100", params={"topic": "Python"}, json={"comment": "good idea"})
    assert r.json() == {"id": 100, "topic": "Python", "comment": "good idea"}


def test_request_object(target: Target) -> None:
    r = target.post("/sub/request", params={"q": "1"}, json={"a": 1},
                    headers={"User-Agent": "tester/1", "X-Test": "y"})
    data = r.json()
    assert data["method"] == "POST" and data["command"] == "post"
    assert data["uri"] == "/sub/request?q=1"
    assert data["version"] in ("1.0", "1.1")
    assert data["scheme"] == "http" and data["ua"] == "tester/1"
    assert (data["ctype"], data["main"], data["sub"]) == ("application/json", "application", "json")
    assert data["json"] == {"a": 1} and data["dict"] == {"a": 1}
    assert data["split"] == ["/sub/request", None, "q=1", None]
    assert data["routable"]["methods"] == ["GET", "POST"]
    assert data["has_x"] is True


def test_remote_addr_trusts_forwarded_for_only_from_trusted_proxies(target: Target) -> None:
    # The app trusts 127.0.0.1 (the test client): X-Forwarded-For's last untrusted hop counts.
    assert target.get("/sub/remote").text == "127.0.0.1"
    r = target.get("/sub/remote", headers={"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})
    assert r.text == "203.0.113.9"


def test_upload_and_save(target: Target) -> None:
    r = target.post("/sub/upload", data={"other": "v"},
                    files={"file": ("hello.txt", b"hello upload", "text/plain")})
    data = r.json()
    assert data["name"] == "hello.txt" and data["size"] == 12 and data["mimetype"] == "text/plain"
    assert data["data"] == "hello upload" and data["tmp_gone"] and data["other"] == "v"
    assert Path(data["saved"]).parent == target.workdir / "uploads"
    r2 = target.post("/sub/upload", files={"file": ("hello.txt", b"again", "text/plain")})
    assert r2.json()["saved"] != data["saved"]  # dup="u": a unique name


def test_unsaved_upload_is_removed_after_the_request(target: Target) -> None:
    r = target.post("/sub/upload-temp", files={"file": ("x.bin", b"\0" * 1000)})
    assert not os.path.exists(r.json()["tmp"])


# --- responses -------------------------------------------------------------------------------------
def test_response_forms(target: Target) -> None:
    r = target.get("/sub/response")
    assert (r.status_code, r.text, r.headers["x-a"]) == (201, "made", "1")
    r = target.get("/sub/header")
    assert r.headers["cache-control"] == "max-age=60" and r.text == "ok"
    r = target.get("/sub/number")
    assert r.text == "42"
    r = target.get("/sub/file")
    assert r.content == (target.workdir / "app.py").read_bytes()
    assert r.headers["content-type"] in ("text/x-python", "text/x-script.python")
    r = target.get("/sub/redirect")
    assert r.status_code == 302 and r.headers["location"] == "/sub/"


def test_file_object_and_generator_are_closed(target: Target) -> None:
    r = target.get("/sub/fileobj")
    assert r.text == "a" * 10 + "b" * 10
    r = target.get("/sub/gen")
    assert r.text == "row0\nrow1\nrow2\n" and r.headers["content-type"] == "text/csv"
    closed = target.state()["closed"]
    assert "fileobj" in closed and "gen" in closed


def test_api_responses(target: Target) -> None:
    r = target.get("/sub/api")
    assert r.json() == {"data": [1, 2, 3]} and r.headers["content-type"] == "application/json"
    r = target.get("/sub/for_api")
    assert r.status_code == 400 and r.json() == {"message": "missing parameter", "code": 10021}
    r = target.get("/sub/traceback")
    assert r.status_code == 200
    data = r.json()
    assert data["code"] == 10001 and data["message"] == "something is not valid"
    assert data["traceback"][0] == "ValueError: bad value"
    assert target.get("/sub/jstream").json() == {"data": [1, 2]}


def test_throw_and_error_pages(target: Target) -> None:
    r = target.get("/sub/throw")
    assert r.status_code == 403 and "403 Forbidden" in r.text
    r = target.get("/sub/teapot")
    assert r.status_code == 418 and r.text == "custom 418 I'm a Teapot: short and stout"
    r = target.get("/sub/nothing-here")
    assert r.status_code == 404 and "<h1>Custom 404 Not Found</h1>" in r.text  # templates/404.html
    assert "URL: /sub/nothing-here" in r.text
    r = target.get("/sub/notfound")  # was.response("404 Not Found") without a body
    assert r.status_code == 404 and "Custom 404" in r.text


def test_exceptions_give_500_without_traceback_unless_debug(target: Target) -> None:
    r = target.get("/sub/boom")
    assert r.status_code == 500 and "ZeroDivisionError" not in r.text
    r = target.get("/sub/boom", headers={"Accept": "application/json"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["code"] == 500 and data["message"] == "Internal Server Error" and "traceback" not in data
    if target.engine:
        deadline = time.monotonic() + 10
        while "ZeroDivisionError" not in target.server.output and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "ZeroDivisionError" in target.server.output  # every view exception is logged


def test_log_and_traceback_with_ids(target: Target) -> None:
    data = target.get("/sub/log").json()
    assert data["ident"] == "my-trace-id"
    if not target.engine:
        assert data["greeting"] is None
        return
    assert data["greeting"] == "from pref"  # app.config merged with the mount's pref.config
    deadline = time.monotonic() + 10
    while "logged on purpose" not in target.server.output and time.monotonic() < deadline:
        time.sleep(0.1)
    out = target.server.output
    assert "a log line from the view" in out
    assert "[my-trace-id]" in out and "RuntimeError: logged on purpose" in out


def test_hint_promise(target: Target) -> None:
    r = target.get("/sub/push")
    assert r.text == "pushed"
    # HTTP/1.1 through the engine: a preload Link (and 103 where asked); elsewhere the same Link.
    assert "</static/a.css>; rel=preload" in r.headers.get("link", "")


def test_hint_promise_pushes_over_http2(target: Target) -> None:
    if not target.engine:
        pytest.skip("server push is the engine's (h2c); wsgiref speaks HTTP/1.0 and 1.1 only")
    from tests.integration.h2client import H2Client

    c = H2Client.connect(target.server.host, target.server.port)
    try:
        sid = c.request("/sub/push")
        c.wait(lambda: c.replies[sid].ended and c.pushed and all(c.replies[p].ended for p in c.pushed))
        assert bytes(c.replies[sid].data) == b"pushed"
        (promised, (parent, headers)), = c.pushed.items()
        assert parent == sid and (b":path", b"/static/a.css") in headers
        assert bytes(c.replies[promised].data) == (target.workdir / "static" / "a.css").read_bytes()
    finally:
        c.close()


# --- templates ------------------------------------------------------------------------------------
def test_render_with_g_from_before_request(target: Target) -> None:
    r = target.get("/sub/list")
    assert r.status_code == 200
    assert "<h1>Items</h1>" in r.text and r.text.count("<li>") == 20
    assert '<a href="/sub/episode/3">three</a>' in r.text


def test_template_global_filter_and_autoescape(target: Target) -> None:
    r = target.get("/sub/tpl", params={"q": "<b>"})
    assert r.text.strip() == "hi ann from /sub/tpl?q=%3Cb%3E|cba|&lt;script&gt;|&lt;b&gt;"


# --- hooks ----------------------------------------------------------------------------------------
def test_request_hooks_in_order(target: Target) -> None:
    assert target.get("/sub/", headers={"X-Intercept": "1"}).text == "intercepted"
    target.get("/sub/episode/5")
    target.get("/sub/boom")
    r = target.get("/sub/boom", headers={"X-Rescue": "1"})
    assert r.status_code == 503 and r.text == "rescued"
    hooks = target.state()["hooks"]
    i = hooks.index("finish:/sub/episode/5")
    assert hooks[i + 1] == "teardown:/sub/episode/5"
    assert hooks.count("failed:ZeroDivisionError") >= 2 and "teardown:/sub/boom" in hooks


def test_preworks_and_postworks(target: Target) -> None:
    assert target.get("/sub/works", headers={"X-Pre": "1"}).text == "pre answered"
    assert target.get("/sub/works").text == "worked"
    assert "post" in target.state()["hooks"]


# --- events ---------------------------------------------------------------------------------------
def test_emit_and_emit_after(target: Target) -> None:
    assert "x" in target.get("/sub/emit").json()["added"]
    assert target.get("/sub/emit-after").text == "done"
    assert "done" in target.state()["added"]


def test_broadcast_binds_the_engine_or_says_it_needs_it(target: Target) -> None:
    r = target.get("/sub/broadcast").json()
    if not target.engine:
        assert "engine service" in r["error"] and "skitai.run" in r["error"]
        return
    assert r == {"sent": True}
    deadline = time.monotonic() + 10
    while not target.state()["broadcasts"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.state()["broadcasts"] == [1]


# --- async -----------------------------------------------------------------------------------------
def test_async_view(target: Target) -> None:
    data = target.get("/sub/async/3", params={"delay": "0.01"}).json()
    assert data["n"] == 3
    if target.engine:
        assert data["engine_loop"] is True  # on the worker's own loop, threads or not
        assert data["thread"] == "MainThread"
    else:
        assert data["engine_loop"] is False


def test_async_views_overlap_on_the_loop(target: Target) -> None:
    if target.mode != "engine-inline":
        pytest.skip("the overlap claim is about threads=0, where one loop serves all")
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futs = [pool.submit(httpx.get, target.server.url(f"/sub/async/{i}?delay=1.0"), timeout=30)
                for i in range(4)]
        started = time.monotonic()
        results = [f.result() for f in futs]
        elapsed = time.monotonic() - started
    assert sorted(r.json()["n"] for r in results) == [0, 1, 2, 3]
    assert elapsed < 3.5  # four 1 s sleeps on one loop thread overlap (serially: 4 s)


def test_umount_hooks_run_when_the_worker_stops(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    log = tmp_path / "umount.log"
    server = start_app(tmp_path, (tmp_path / "serve.py").read_text(), filename="serve.py",
                       env={"SADDLE_UMOUNT_FILE": str(log)})
    try:
        assert httpx.get(server.url("/sub/"), timeout=20).text == "hello"
    finally:
        assert server.stop() == 0
    assert log.read_text().splitlines() == ["before_umount", "umounted"]


def test_reloader_asks_the_engine_for_a_rolling_reload(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path, dirs_exist_ok=True)
    (tmp_path / "package").mkdir()
    module = tmp_path / "package" / "helper.py"
    module.write_text("VALUE = 1\n")
    server = start_app(tmp_path, (tmp_path / "serve.py").read_text(), filename="serve.py",
                       env={"SADDLE_RELOADER": "1"})
    try:
        with httpx.Client(base_url=server.url("").rstrip("/"), timeout=20) as c:
            first = c.get("/sub/state").json()
            assert first["lifecycle"] == ["before_mount", "mounted:/sub"]
            time.sleep(1.1)
            module.write_text("VALUE = 2\n")
            os.utime(module, (time.time(), time.time() + 5))
            deadline = time.monotonic() + 60
            state = first
            while state["pid"] == first["pid"] and time.monotonic() < deadline:
                time.sleep(0.3)
                state = c.get("/sub/state").json()
            assert state["pid"] != first["pid"], server.output
            assert state["lifecycle"] == ["before_remount", "remounted:/sub"]
    finally:
        assert server.stop() == 0


def test_json_of_state_is_per_server(target: Target) -> None:
    assert json.loads(target.get("/sub/state").text)["pid"] > 0


OVERLAY_APP = '''
from skitai.saddle import Saddle

app = Saddle(__name__)
# The seed README's jinja_overlay with '#' as both variable delimiters (Vue keeps {{ }}).
app.jinja_overlay("#", "#")


@app.route("/vue")
def vue(was, name):
    return was.render("vue.html", name=name, items=[1, 2])
'''

OVERLAY_TEMPLATE = """\
<div id="app">{{ message }}</div>
<p>#name# costs ##5, ##name## is literal</p>
% for i in items
<i>#i#</i>
% endfor
"""


def test_jinja_overlay_double_escape_through_the_engine(tmp_path: Path) -> None:
    (tmp_path / "vueapp.py").write_text(OVERLAY_APP)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "vue.html").write_text(OVERLAY_TEMPLATE)
    server = start_app(tmp_path, """
        import skitai
        if __name__ == "__main__":
            skitai.mount("/", "vueapp.py", "app")
            skitai.run(workers=1, threads=0)
    """, filename="serve.py")
    try:
        r = httpx.get(server.url("/vue?name=%3Cb%3E"), timeout=20)
        assert r.status_code == 200, r.text
        assert r.text == ('<div id="app">{{ message }}</div>\n'
                          "<p>&lt;b&gt; costs #5, #name# is literal</p>\n"
                          "<i>1</i>\n<i>2</i>\n")
    finally:
        assert server.stop() == 0
