"""Saddle part 2 through the real engine: cookies, sealed sessions, mbox, CSRF, one-time
tokens, login helpers, WWW-Authenticate (httpx's DigestAuth), CORS and XML-RPC/JSON-RPC.

One server (two Saddle apps from one file, mounted at /app and /basic) serves the module.
"""

from __future__ import annotations

import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, start_app

APP = '''
import time
from skitai.saddle import Saddle

app = Saddle(__name__)
app.securekey = ["current-key-0123456789", "older-key-0123456789"]
app.session_timeout = 600
app.authorization = "digest"
app.realm = "Partner Area"
app.users = {"hans": "pw", "app": ("2b4bb2b5d2b2f39d1ee4d8d6a6a8b2a4", True, {"role": "root"})}
app.access_control_allow_origin = ["https://good.example"]
app.access_control_max_age = 600


@app.route("/session/set")
def session_set(was, v, expiry=None):
    was.session.set("v", v)
    if expiry:
        was.session.set_expiry(float(expiry))
    return "ok"


@app.route("/session/get")
def session_get(was):
    return {"v": was.session.get("v"), "keys": was.session.keys()}


@app.route("/session/big")
def session_big(was):
    was.session.set("big", "x" * 6000)
    return "never"


@app.route("/cookie")
def cookie(was):
    was.cookie.set("lang", "ko", 3600, samesite="Lax")
    was.cookie.set("pub", "1", path="/", http_only=True)
    return {"seen": dict(was.cookie.items())}


@app.route("/msg")
def msg(was):
    was.mbox.send("saved", "info")
    was.mbox.send("kept", "alert", valid=60)
    return was.redirect(was.ab("show"))


@app.route("/show")
def show(was):
    return [[m[1], m[4]] for m in was.mbox.get()]


@app.route("/form")
def form(was):
    return str(was.csrf_token_input)


@app.route("/submit", methods=["POST"])
def submit(was):
    if not was.csrf_verify():
        return was.response("400 Bad Request", "csrf")
    return "accepted"


@app.route("/token/make")
def token_make(was):
    return was.token({"user": "hans"}, 3600, "rset")


@app.route("/token/use")
def token_use(was, token):
    found = was.detoken(token)
    if found is None:
        return was.response("400 Bad Request", "bad token")
    was.rmtoken(token)
    return found


@app.route("/token/short")
def token_short(was):
    return was.token("x", 1)


@app.route("/token/read")
def token_read(was, token):
    return {"found": was.detoken(token)}


@app.login_handler
def login(was):
    if was.session.get("user"):
        return None
    return was.response("401 Unauthorized", "login first")


@app.permission_handler
def permission(was, perms):
    if was.session.get("level") not in perms:
        return was.response("403 Forbidden", "no permission")


def not_bob(was):
    if was.session.get("user") == "bob":
        return was.response("403 Forbidden", "not for bob")


@app.route("/login")
def do_login(was, user, level="user"):
    was.session.set("user", user)
    was.session.set("level", level)
    return "in"


@app.route("/members")
@app.login_required
def members(was):
    return "members " + was.session.get("user")


@app.route("/admin")
@app.permission_required(["admin"])
@app.login_required
def admin(was):
    return "admin"


@app.route("/profile")
@app.testpass_required(not_bob)
def profile(was):
    return "profile"


@app.route("/secret", authenticate=True)
def secret(was, q=None):
    return {"user": was.request.user.name, "realm": was.request.user.realm,
            "info": was.request.user.info}


@app.route("/post", methods=["POST", "OPTIONS"])
def post(was):
    return "posted"


@app.route("/open", methods=["GET"], access_control_allow_origin=["*"])
def open_(was):
    return "open"


@app.route("/add")
def add(was, a, b):
    return a + b


@app.route("/math/neg")
def neg(was, a):
    return -a


@app.route("/boom")
def boom(was):
    raise RuntimeError("boom")


app_root = Saddle(__name__ + ".root")
app_root.route("/add")(lambda was, a, b: a + b)


app_basic = Saddle(__name__ + ".basic")
app_basic.authorization = "basic"
app_basic.realm = "Basic Area"
app_basic.users = {"hans": "pw"}
app_basic.authenticate = True


@app_basic.route("/")
def basic_index(was):
    return "hello " + was.request.user.name
'''

LAUNCH = '''
import skitai
if __name__ == "__main__":
    skitai.mount("/app", "saddleapp.py", "app")
    skitai.mount("/basic", "saddleapp.py", "app_basic")
    skitai.mount("/", "saddleapp.py", "app_root")
    skitai.run(workers=2, threads=2)
'''


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("saddle2")
    import hashlib

    # app's pre-hashed password: MD5(user:realm:password), the seed's form
    ha1 = hashlib.md5(b"app:Partner Area:pw2").hexdigest()
    (workdir / "saddleapp.py").write_text(APP.replace("2b4bb2b5d2b2f39d1ee4d8d6a6a8b2a4", ha1))
    server = start_app(workdir, LAUNCH, env={"SKITAI_LOGPATH": str(workdir / "logs")})
    yield server
    server.stop()


def wait_in_log(srv: ServerProcess, name: str, *parts: str) -> bool:
    """Whether a line of logs/<name> holds every part (waiting a while for it)."""
    path = srv.workdir / "logs" / name
    deadline = time.time() + 15
    while time.time() < deadline:
        text = path.read_text() if path.exists() else ""
        if any(all(p in line for p in parts) for line in text.splitlines()):
            return True
        time.sleep(0.2)
    return False


def client(srv: ServerProcess, **kw: object) -> httpx.Client:
    return httpx.Client(base_url=srv.url(""), timeout=20, **kw)  # type: ignore[arg-type]


def set_cookies(resp: httpx.Response) -> dict[str, str]:
    return {line.split("=", 1)[0]: line for line in resp.headers.get_list("set-cookie")}


def test_session_round_trip_and_sealed_cookie(srv: ServerProcess) -> None:
    with client(srv) as c:
        r = c.get("/app/session/set", params={"v": "hello"})
        assert r.status_code == 200
        line = set_cookies(r)["SESSION"]
        assert "Path=/;" in line and "HttpOnly" in line and "SameSite=Lax" in line
        assert "hello" not in line  # encrypted, not just signed
        assert c.get("/app/session/get").json() == {"v": "hello", "keys": ["v"]}


def test_tampered_foreign_and_expired_sessions_read_empty(srv: ServerProcess) -> None:
    with client(srv) as c:
        r = c.get("/app/session/set", params={"v": "x"})
        value = r.cookies["SESSION"]
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    for bad in (flipped, value[:-4], "garbage", value + "AAAA"):
        r = httpx.get(srv.url("/app/session/get"), headers={"Cookie": f"SESSION={bad}"}, timeout=20)
        assert r.status_code == 200 and r.json()["v"] is None
    # expired: the server refuses it even when the client keeps sending it
    r = httpx.get(srv.url("/app/session/set"), params={"v": "y", "expiry": "1"}, timeout=20)
    short = r.cookies["SESSION"]
    time.sleep(1.5)
    r = httpx.get(srv.url("/app/session/get"), headers={"Cookie": f"SESSION={short}"}, timeout=20)
    assert r.json()["v"] is None


def test_session_too_large_is_a_clear_error(srv: ServerProcess) -> None:
    r = httpx.get(srv.url("/app/session/big"), timeout=20)
    assert r.status_code == 500
    assert wait_in_log(srv, "app.log", "past the 4096-byte cookie limit")


def test_cookies_default_to_mount_point(srv: ServerProcess) -> None:
    with client(srv) as c:
        r = c.get("/app/cookie", headers={"Cookie": "old=1"})
        lines = set_cookies(r)
        assert lines["lang"].startswith("lang=ko; Expires=") and "Max-Age=3600" in lines["lang"]
        assert "Path=/app" in lines["lang"] and "SameSite=Lax" in lines["lang"]
        assert "Path=/;" in lines["pub"] + ";" and "HttpOnly" in lines["pub"]
        assert r.json() == {"seen": {"old": "1", "lang": "ko", "pub": "1"}}


def test_mbox_survives_redirect_then_one_shot_is_gone(srv: ServerProcess) -> None:
    with client(srv, follow_redirects=True) as c:
        r = c.get("/app/msg")
        assert r.url.path == "/app/show"
        assert r.json() == [["info", "saved"], ["alert", "kept"]]
        assert c.get("/app/show").json() == [["alert", "kept"]]


def test_csrf(srv: ServerProcess) -> None:
    with client(srv) as c:
        page = c.get("/app/form").text
        token = page.split('value="', 1)[1].split('"', 1)[0]
        assert c.post("/app/submit", data={}).status_code == 400
        assert c.post("/app/submit", data={"csrf_token": token + "x"}).status_code == 400
        assert c.post("/app/submit", data={"csrf_token": token}).text == "accepted"
        assert c.post("/app/submit", data={"csrf_token": token}).status_code == 400  # used
        token = c.get("/app/form").text.split('value="', 1)[1].split('"', 1)[0]
        assert c.post("/app/submit", headers={"X-CSRF-Token": token}).text == "accepted"
    # another browser (no session) cannot use a token it saw
    assert httpx.post(srv.url("/app/submit"), data={"csrf_token": token}, timeout=20).status_code == 400


def test_one_time_token_refused_after_use_tamper_and_expiry(srv: ServerProcess) -> None:
    with client(srv) as c:
        token = c.get("/app/token/make").text
        assert c.get("/app/token/use", params={"token": token[:-2] + "AA"}).status_code == 400
        assert c.get("/app/token/use", params={"token": token}).json() == {"user": "hans"}
        assert c.get("/app/token/use", params={"token": token}).status_code == 400  # replay
        short = c.get("/app/token/short").text
        assert c.get("/app/token/read", params={"token": short}).json() == {"found": "x"}
        time.sleep(1.5)
        assert c.get("/app/token/read", params={"token": short}).json() == {"found": None}
    # a session-bound token does not work for another session
    with client(srv) as c1, client(srv) as c2:
        token = c1.get("/app/token/make").text
        assert c2.get("/app/token/use", params={"token": token}).status_code == 400


def test_login_permission_and_testpass(srv: ServerProcess) -> None:
    with client(srv) as c:
        assert c.get("/app/members").status_code == 401
        c.get("/app/login", params={"user": "bob"})
        assert c.get("/app/members").text == "members bob"
        assert c.get("/app/admin").status_code == 403
        assert c.get("/app/profile").status_code == 403
        c.get("/app/login", params={"user": "ann", "level": "admin"})
        assert c.get("/app/admin").text == "admin"
        assert c.get("/app/profile").text == "profile"


def test_digest_auth_with_httpx_and_user_in_log(srv: ServerProcess) -> None:
    assert httpx.get(srv.url("/app/secret"), timeout=20).status_code == 401
    r = httpx.get(srv.url("/app/secret"), timeout=20)
    challenges = r.headers.get_list("www-authenticate")
    assert challenges[0].startswith('Digest realm="Partner Area", qop="auth", algorithm=SHA-256')
    assert "algorithm=MD5" in challenges[1]
    with client(srv, auth=httpx.DigestAuth("hans", "pw")) as c:
        r = c.get("/app/secret", params={"q": "1"})
        assert r.status_code == 200 and r.json() == {"user": "hans", "realm": "Partner Area", "info": None}
        replay = r.request.headers["authorization"]
    for _ in range(4):  # on either worker: the one that made the nonce saw its count
        r = httpx.get(srv.url("/app/secret?q=1"), headers={"Authorization": replay}, timeout=20)
        assert r.status_code == 401
    assert httpx.get(srv.url("/app/secret"), auth=httpx.DigestAuth("hans", "nope"),
                     timeout=20).status_code == 401
    assert wait_in_log(srv, "request.log", 'GET /app/secret?q=1 ', ' 200 ', '"hans"')


def test_digest_with_requests(srv: ServerProcess) -> None:
    """requests reads the two challenges as one header line; it must still get in."""
    requests = pytest.importorskip("requests", reason="requests comes with the test extras")
    r = requests.get(srv.url("/app/secret"), auth=requests.auth.HTTPDigestAuth("hans", "pw"), timeout=20)
    assert r.status_code == 200 and r.json()["user"] == "hans"
    r = requests.get(srv.url("/app/secret"), auth=requests.auth.HTTPDigestAuth("hans", "no"), timeout=20)
    assert r.status_code == 401


def test_digest_md5_prehashed_user(srv: ServerProcess) -> None:
    # httpx answers the first challenge (SHA-256): a pre-hashed MD5 password cannot pass it
    r = httpx.get(srv.url("/app/secret"), auth=httpx.DigestAuth("app", "pw2"), timeout=20)
    assert r.status_code == 401
    # requests ends up with the MD5 challenge (see above): the seed's pre-hashed form works
    requests = pytest.importorskip("requests", reason="requests comes with the test extras")
    r = requests.get(srv.url("/app/secret"), auth=requests.auth.HTTPDigestAuth("app", "pw2"), timeout=20)
    assert r.status_code == 200 and r.json() == {"user": "app", "realm": "Partner Area",
                                                 "info": {"role": "root"}}


def test_basic_auth_app(srv: ServerProcess) -> None:
    r = httpx.get(srv.url("/basic/"), timeout=20)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith('Basic realm="Basic Area"')
    assert httpx.get(srv.url("/basic/"), auth=("hans", "pw"), timeout=20).text == "hello hans"
    assert httpx.get(srv.url("/basic/"), auth=("hans", "x"), timeout=20).status_code == 401


def test_cors_preflight_and_actual(srv: ServerProcess) -> None:
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    r = httpx.options(srv.url("/app/post"), headers={"Origin": "https://good.example", **pre}, timeout=20)
    assert r.status_code == 204 and r.text == ""
    assert r.headers["access-control-allow-origin"] == "https://good.example"
    assert r.headers["access-control-max-age"] == "600"
    assert "POST" in r.headers["access-control-allow-methods"]
    r = httpx.options(srv.url("/app/post"), headers={"Origin": "https://evil.example", **pre}, timeout=20)
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = httpx.post(srv.url("/app/post"), headers={"Origin": "https://good.example"}, timeout=20)
    assert r.text == "posted" and r.headers["access-control-allow-origin"] == "https://good.example"
    assert r.headers["vary"] == "Origin"
    r = httpx.post(srv.url("/app/post"), headers={"Origin": "https://evil.example"}, timeout=20)
    assert "access-control-allow-origin" not in r.headers
    # a route that does not list OPTIONS still gets its preflight answered (per-route "*")
    r = httpx.options(srv.url("/app/open"), headers={"Origin": "https://any.example",
                                                     "Access-Control-Request-Method": "GET"}, timeout=20)
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    r = httpx.options(srv.url("/app/open"), headers={"Origin": "https://any.example",
                                                     "Access-Control-Request-Method": "DELETE"}, timeout=20)
    assert r.status_code in (403, 405)


def test_xmlrpc_with_xmlrpc_client(srv: ServerProcess) -> None:
    proxy = xmlrpc.client.ServerProxy(srv.url("/app/"))
    assert proxy.add(2, 3) == 5
    assert xmlrpc.client.ServerProxy(srv.url("/app")).add(2, 3) == 5  # MOUNT_URL, no slash
    assert xmlrpc.client.ServerProxy(f"http://{srv.host}:{srv.port}").add(1, 1) == 2  # "/RPC2"
    assert proxy.math.neg(4) == -4
    with pytest.raises(xmlrpc.client.Fault) as nope:
        proxy.nope()
    assert nope.value.faultCode == 404
    with pytest.raises(xmlrpc.client.Fault) as bad:
        proxy.add(1)
    assert bad.value.faultCode == 400
    with pytest.raises(xmlrpc.client.Fault) as boom:
        proxy.boom()
    assert boom.value.faultCode == 500 and "RuntimeError" in boom.value.faultString
    # a protected view over RPC still asks for credentials
    with pytest.raises(xmlrpc.client.ProtocolError) as denied:
        xmlrpc.client.ServerProxy(srv.url("/app/")).secret()
    assert denied.value.errcode == 401


def test_jsonrpc(srv: ServerProcess) -> None:
    r = httpx.post(srv.url("/app/"), json={"jsonrpc": "2.0", "method": "add", "params": [2, 3], "id": 1},
                   timeout=20)
    assert r.json() == {"jsonrpc": "2.0", "result": 5, "id": 1}
    r = httpx.post(srv.url("/app/"), json=[
        {"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "b": 2}, "id": "a"},
        {"jsonrpc": "2.0", "method": "missing", "id": "b"}], timeout=20)
    assert [x.get("result", x.get("error", {}).get("code")) for x in r.json()] == [3, -32601]
