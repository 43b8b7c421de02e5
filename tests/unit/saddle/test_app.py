"""A Saddle app called in-process as any WSGI server would (PEP 3333 environ), for what
needs no socket: debug tracebacks, limits, overlays, the engine seam, the extension seams."""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

import skitai.was
from skitai.saddle import EngineRequired, Saddle, extensions
from skitai.was import process as was_process


def call(app: Saddle, path: str, method: str = "GET", body: bytes = b"", ctype: str | None = None,
         query: str = "", script: str = "", **headers: str) -> tuple[str, dict[str, str], bytes]:
    env: dict[str, Any] = {}
    setup_testing_defaults(env)
    env.update(REQUEST_METHOD=method, PATH_INFO=path, SCRIPT_NAME=script, QUERY_STRING=query,
               CONTENT_LENGTH=str(len(body)))
    env["wsgi.input"] = io.BytesIO(body)
    if ctype:
        env["CONTENT_TYPE"] = ctype
    for k, v in headers.items():
        env["HTTP_" + k.upper()] = v
    out: dict[str, Any] = {}

    def start_response(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> None:
        out["status"], out["headers"] = status, {k.lower(): v for k, v in hdrs}

    result = app(env, start_response)
    try:
        data = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    return out["status"], out["headers"], data


@pytest.fixture
def app(tmp_path: Path) -> Saddle:
    a = Saddle("test_app_module")
    a.root = str(tmp_path)
    (tmp_path / "templates").mkdir()
    return a


@pytest.fixture
def clean_extensions() -> Iterator[None]:
    saved = (dict(extensions.factories), dict(extensions.response_hooks),
             list(extensions.dispatch_hooks), list(extensions.routing_hooks),
             list(extensions.converters))
    # Only the test's own seams: part 2's (sessions, gates) are installed at import.
    extensions.factories.clear(); extensions.response_hooks.clear()  # noqa: E702
    del extensions.dispatch_hooks[:], extensions.routing_hooks[:], extensions.converters[:]
    yield
    extensions.factories.clear(); extensions.factories.update(saved[0])  # noqa: E702
    extensions.response_hooks.clear(); extensions.response_hooks.update(saved[1])  # noqa: E702
    extensions.dispatch_hooks[:] = saved[2]
    extensions.routing_hooks[:] = saved[3]
    extensions.converters[:] = saved[4]


def test_debug_shows_tracebacks_in_html_and_json(app: Saddle) -> None:
    @app.route("/boom")
    def boom(was):  # noqa: ANN001, ANN202
        raise KeyError("the-key")

    status, _, body = call(app, "/boom")
    assert status.startswith("500") and b"the-key" not in body
    app.debug = True
    status, _, body = call(app, "/boom")
    assert status.startswith("500") and b"KeyError: &#x27;the-key&#x27;" in body
    status, headers, body = call(app, "/boom", ACCEPT="application/json")
    data = json.loads(body)
    assert headers["content-type"] == "application/json"
    assert data["traceback"][0] == "KeyError: 'the-key'"
    assert any("function boom" in line for line in data["traceback"])


def test_body_limits_and_bad_bodies(app: Saddle) -> None:
    @app.route("/f", methods=["POST"])
    def f(was, **form):  # noqa: ANN001, ANN003, ANN202
        return form

    app.config.max_post_body_size = 10
    status, _, body = call(app, "/f", "POST", b"a=" + b"x" * 20, "application/x-www-form-urlencoded")
    assert status.startswith("413") and b"over the limit" in body
    app.config.max_post_body_size = 1000
    status, _, body = call(app, "/f", "POST", b"{nope", "application/json")
    assert status.startswith("400") and b"invalid JSON" in body


def test_head_uses_get(app: Saddle) -> None:
    @app.route("/x", methods=["GET"])
    def x(was):  # noqa: ANN001, ANN202
        return "x"

    assert call(app, "/x", "HEAD")[0] == "200 OK"


def test_jinja_overlay_swaps_delimiters(app: Saddle, tmp_path: Path) -> None:
    (tmp_path / "templates" / "vue.html").write_text(textwrap.dedent("""\
        <div>{{ vue_var }}</div>
        % for i in items
        <i>${ i }</i>
        % endfor
    """))
    app.jinja_overlay(variable_start_string="${", variable_end_string="}")

    @app.route("/vue")
    def vue(was):  # noqa: ANN001, ANN202
        return was.render("vue.html", items=[1, 2])

    body = call(app, "/vue")[2].decode()
    assert "<div>{{ vue_var }}</div>" in body and "<i>1</i>" in body and "<i>2</i>" in body


def test_chameleon_templates(app: Saddle, tmp_path: Path) -> None:
    pytest.importorskip("chameleon", reason="chameleon is an optional extra")
    (tmp_path / "templates" / "index.ptal").write_text(
        '<ul><li tal:repeat="row rows" tal:content="row"/></ul>${was.request.args["q"]}')

    @app.route("/pt")
    def pt(was, q):  # noqa: ANN001, ANN202
        return was.render("index.ptal", rows=["a", "<b>"])

    body = call(app, "/pt", query="q=zz")[2].decode()
    assert body.replace("\n", "") == "<ul><li>a</li><li>&lt;b&gt;</li></ul>zz"


def test_engine_services_need_the_engine(app: Saddle) -> None:
    @app.route("/b")
    def b(was):  # noqa: ANN001, ANN202
        try:
            was.setlu("x")
        except EngineRequired as exc:
            return str(exc)
        return "no error"

    body = call(app, "/b")[2].decode()
    assert body.startswith("was.setlu is a Skitai engine service")


def test_async_view_under_plain_wsgi(app: Saddle) -> None:
    @app.route("/a/<int:n>")
    async def a(was, n):  # noqa: ANN001, ANN202
        return {"n": n * 2}

    assert json.loads(call(app, "/a/21")[2]) == {"n": 42}


def test_mount_seam_binds_broadcasts_and_umount_unbinds(tmp_path: Path) -> None:
    """skitai_mount() with the engine's real ``skitai.was`` (standalone: local delivery)."""
    was_process.reset()
    try:
        app = Saddle("mount_seam")
        app.root = str(tmp_path)
        seen: list[Any] = []
        app.before_remount(lambda wac: seen.append("before_remount"))
        app.remounted(lambda was: seen.append(("remounted", was.env["SCRIPT_NAME"])))
        app.on_broadcast("x:y")(lambda was, n: seen.append(("x:y", n)))
        app.on_broadcast("model-changed")(lambda was, *a, **k: seen.append("model"))
        apps: dict[str, Any] = {}
        app.skitai_mount({"was": skitai.was, "point": "/m", "name": "mine", "apps": apps,
                          "remount": True})
        assert apps == {"mine": app} and app.apps is apps
        assert seen == ["before_remount", ("remounted", "/m")]
        skitai.was.broadcast("x:y", 5)
        skitai.was.setlu("items")
        assert seen[2:] == [("x:y", 5), "model"]
        app.skitai_umount()
        skitai.was.broadcast("x:y", 6)
        assert ("x:y", 6) not in seen
    finally:
        was_process.reset()


def test_extension_seams(app: Saddle, clean_extensions: None) -> None:
    class Session(dict[str, Any]):
        pass

    def write_cookie(session: Session, was: Any, response: Any) -> None:
        response.append_header("Set-Cookie", f"s={session.get('user', '')}; status={response.code}")

    extensions.was_attribute("session", lambda was: Session(), write_cookie)

    @extensions.before_dispatch
    def auth(was: Any, rule: Any) -> Any:
        if rule.options.get("authenticate") and not was.request.get_header("Authorization"):
            return was.response("401 Unauthorized", "who?", [("WWW-Authenticate", "Basic")])
        return None

    @extensions.before_routing
    def rpc(app: Saddle, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("CONTENT_TYPE") != "text/xml":
            return None
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"rpc answered"]

    extensions.result_converter(lambda v: isinstance(v, set), lambda was, v: sorted(v))

    @app.route("/login")
    def login(was):  # noqa: ANN001, ANN202
        was.session["user"] = "ann"
        return "in"

    @app.route("/secret", authenticate=True)
    def secret(was):  # noqa: ANN001, ANN202
        return {3, 1, 2}

    @app.route("/plain")
    def plain(was):  # noqa: ANN001, ANN202
        return "plain"

    _, headers, _ = call(app, "/login")
    assert headers["set-cookie"] == "s=ann; status=200"
    assert "set-cookie" not in call(app, "/plain")[1]  # not touched: no hook
    status, headers, body = call(app, "/secret")
    assert status.startswith("401") and headers["www-authenticate"] == "Basic"
    assert call(app, "/secret", AUTHORIZATION="x")[2] == b"[1, 2, 3]"
    assert call(app, "/nowhere", "POST", b"<x/>", "text/xml")[2] == b"rpc answered"

    @app.route("/fail")
    def fail(was):  # noqa: ANN001, ANN202
        was.session["user"] = "bob"
        was.response.throw(403)

    _, headers, _ = call(app, "/fail")
    assert headers["set-cookie"] == "s=bob; status=403"  # error responses get the hook too


def test_call_view_for_rpc(app: Saddle) -> None:
    @app.route("/add")
    def add(was, a, b=1):  # noqa: ANN001, ANN202
        return a + b

    rule = app.router.by_endpoint["add"][0]
    from skitai.saddle.was import Was

    was = Was(app, {"SCRIPT_NAME": ""})
    assert app.call_view(was, rule, [2, 3], {}) == 5
    with pytest.raises(TypeError, match="missing"):
        app.call_view(was, rule, [], {})
    with pytest.raises(TypeError, match="unexpected"):
        app.call_view(was, rule, [1], {"c": 2})


def test_shared_objects_and_was_apps(app: Saddle) -> None:
    @app.before_mount
    def before_mount(wac):  # noqa: ANN001, ANN202
        wac.register("searcher", "the searcher")

    @app.route("/s")
    def s(was):  # noqa: ANN001, ANN202
        return f"{was.searcher} {sorted(was.apps)} {was.app is app}"

    try:
        assert call(app, "/s")[2] == b"the searcher ['test_app_module'] True"
    finally:
        from skitai.saddle.was import Was

        Was(app, {}).unregister("searcher")


def test_reloader_reruns_a_changed_decorative_module(tmp_path: Path) -> None:
    import os
    import sys

    (tmp_path / "decorative").mkdir()
    (tmp_path / "templates").mkdir()
    mod = tmp_path / "decorative" / "reloadme.py"
    mod.write_text("def decorate(app):\n    @app.route('/d')\n    def d(was):\n        return 'v1'\n")
    sys.path.insert(0, str(tmp_path))
    try:
        app = Saddle("reloader_app")
        app.root = str(tmp_path)
        app.use_reloader = True
        assert call(app, "/d")[2] == b"v1"
        mod.write_text("def decorate(app):\n    @app.route('/d2')\n    def d(was):\n        return 'v2'\n")
        st = mod.stat()
        os.utime(mod, (st.st_atime, st.st_mtime + 5))
        app._reloader.next_check = 0
        assert call(app, "/d2")[2] == b"v2"
        assert call(app, "/d")[0].startswith("404")  # the old run's route is gone
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("decorative.reloadme", None)
        sys.modules.pop("decorative", None)


def test_if_file_modified_calls_once_per_change(app: Saddle, tmp_path: Path) -> None:
    import os

    watched = tmp_path / "config.ini"
    watched.write_text("a")
    calls: list[str] = []

    @app.route("/i")
    @app.if_file_modified(str(watched), lambda was, path: calls.append(path))
    def i(was):  # noqa: ANN001, ANN202
        return "i"

    call(app, "/i")
    call(app, "/i")
    assert calls == [str(watched)]
    st = watched.stat()
    os.utime(watched, (st.st_atime, st.st_mtime + 5))
    call(app, "/i")
    assert calls == [str(watched)] * 2


def test_broadcast_after_and_emit_after(tmp_path: Path) -> None:
    was_process.reset()
    try:
        app = Saddle("broadcast_after")
        app.root = str(tmp_path)
        got: list[str] = []
        app.on_broadcast("users:changed")(lambda was: got.append("broadcast"))
        app.on("users:saved")(lambda was: got.append("emit"))

        @app.route("/u")
        @app.broadcast_after("users:changed")
        @app.emit_after("users:saved")
        def u(was):  # noqa: ANN001, ANN202
            return "saved"

        app.skitai_mount({"was": skitai.was, "point": "/"})
        assert call(app, "/u")[2] == b"saved"
        assert got == ["emit", "broadcast"]
    finally:
        was_process.reset()


def test_content_disposition_never_breaks_the_header() -> None:
    from skitai.saddle.response import content_disposition

    assert content_disposition("a b.txt") == 'attachment; filename="a b.txt"'
    value = content_disposition('r\u00e9sum\u00e9\r\n"x".pdf')
    assert value.isascii() and "\r" not in value and "\n" not in value
    assert value.endswith("filename*=UTF-8''r%C3%A9sum%C3%A9%0D%0A%22x%22.pdf")


def test_bad_and_oversized_multipart(app: Saddle) -> None:
    @app.route("/up", methods=["POST"])
    def up(was, **form):  # noqa: ANN001, ANN003, ANN202
        return {k: str(v) for k, v in form.items()}

    status, _, body = call(app, "/up", "POST", b"--XX\r\nnonsense", "multipart/form-data")
    assert status.startswith("400") and b"boundary" in body
    part = (b'--XX\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + b"x" * 2000 + b"\r\n--XX--\r\n")
    app.config.max_upload_file_size = 1000
    status, _, body = call(app, "/up", "POST", part, "multipart/form-data; boundary=XX")
    assert status.startswith("413") and b"a.bin" in body
    app.config.max_upload_file_size = 10000
    app.config.max_multipart_body_size = 100
    status, _, _ = call(app, "/up", "POST", part, "multipart/form-data; boundary=XX")
    assert status.startswith("413")
    app.config.max_multipart_body_size = 1 << 20
    status, _, body = call(app, "/up", "POST", part, "multipart/form-data; boundary=XX")
    assert status == "200 OK" and b"a.bin" in body


def test_request_args_include_the_views_defaults(app: Saddle) -> None:
    @app.route("/e/<int:id>")
    def e(was, id, topic="none", page=1):  # noqa: ANN001, ANN202
        return was.request.args

    assert json.loads(call(app, "/e/3", query="topic=py")[2]) == {"id": 3, "topic": "py", "page": 1}


def test_transaction_ids_come_from_the_engine_when_given(app: Saddle) -> None:
    from skitai.saddle.was import Was

    assert Was(app, {"skitai.gtxid": "GTID-a-C1-R2", "skitai.ltxid": "1000"}).txnid == "GTID-a-C1-R2/1000"
    assert Was(app, {"HTTP_X_GTXN_ID": "G9"}).txnid.startswith("G9/")
    was = Was(app, {})
    assert was.txnid == was.txnid  # one id per request


def test_txnid_can_be_called_as_the_engines_was_txnid(app: Saddle) -> None:
    # README "Backend calls": was.txnid() in any app; a Saddle view's was had a plain str.
    from skitai.saddle.was import Was

    was = Was(app, {"skitai.gtxid": "GTID-a-C1-R2", "skitai.ltxid": "1000"})
    assert was.txnid() == ("GTID-a-C1-R2", 1000)
    assert was.txnid == "GTID-a-C1-R2/1000"
    gtxid, ltxid = Was(app, {"HTTP_X_GTXN_ID": "G9"}).txnid()
    assert gtxid == "G9" and ltxid > 0


def test_async_view_from_a_pool_thread_runs_on_the_loop_in_the_callers_context(app: Saddle) -> None:
    import asyncio
    import contextvars
    import threading

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        app.loop = loop

        @app.route("/ctx")
        async def ctx(was):  # noqa: ANN001, ANN202
            return {"id": request_id.get(), "on_loop": asyncio.get_running_loop() is loop}

        request_id.set("req-7")  # what a server binds in its thread before calling the app
        assert json.loads(call(app, "/ctx")[2]) == {"id": "req-7", "on_loop": True}
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()


def test_app_storage_keeps_values_for_the_views(app: Saddle) -> None:
    # The seed's README fills app.storage in @app.mounted callbacks and reads it in views.
    app.storage.set("STATENAMES", {"CA": "California"})

    @app.route("/s")
    def s(was):  # noqa: ANN001, ANN202
        return app.storage.get("STATENAMES")

    assert json.loads(call(app, "/s")[2]) == {"CA": "California"}
    assert app.storage.get("missing", 1) == 1 and "STATENAMES" in app.storage
    assert app.storage.remove("STATENAMES") == {"CA": "California"}
    assert app.storage.get("STATENAMES") is None


def test_a_view_naming_no_query_parameter_reads_them_from_request_args(app: Saddle) -> None:
    # The seed's "simplest way": def hello(was, id): was.request.args.get("topic"), with
    # ?topic=Python; only a view that names query parameters refuses others (400).
    @app.route("/episode/<int:id>")
    def hello(was, id):  # noqa: ANN001, ANN202, A002
        return {"topic": was.request.args.get("topic")}

    @app.route("/hello")
    def hello_world(was, num=8):  # noqa: ANN001, ANN202
        return {"num": num}

    status, _, body = call(app, "/episode/100", query="topic=Python")
    assert status.startswith("200") and json.loads(body) == {"topic": "Python"}
    assert json.loads(call(app, "/hello", query="num=100")[2]) == {"num": "100"}
    status, _, body = call(app, "/hello", query="num=100&x=1")
    assert status.startswith("400") and b"x" in body


def test_wac_logger_config_and_numthreads(app: Saddle) -> None:
    # The seed's before_mount(wac): wac.logger.get("app"), make_logger("login", "daily"),
    # wac.config, wac.numthreads (the engine gives the thread count at mount).
    from skitai.saddle.was import Was

    wac = Was(app, {})
    assert wac.logger.get("app").name == "skitai.app"
    assert wac.logger.make_logger("login", "daily").name == "skitai.app.login"
    assert wac.config is app.config and wac.config.max_post_body_size == 5 * 1024 * 1024
    assert wac.numthreads == 1
    app.skitai_mount({"threads": 8, "point": "/"})
    assert Was(app, {}).numthreads == 8
