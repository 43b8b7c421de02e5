from __future__ import annotations

from skitai.worker.routing import Router, decode_path, split_target


class _App(str):
    """A named stand-in for a handler (equal to its name)."""

    body_limit = 0


def _router() -> Router:
    r = Router()
    d = r.table_for(None)
    d.add("/", app=_App("root"))
    d.add("/sub", app=_App("sub"))
    d.add("/sub/deeper", app=_App("deeper"))
    d.add("/files", static="files-static")
    d.add("/files", app=_App("files-app"))
    r.table_for("api.example.com").add("/", app=_App("api"))
    r.table_for(".example.com").add("/", app=_App("wild"))
    r.table_for(".deep.example.com").add("/", app=_App("deepwild"))
    return r


def test_longest_mount_point_wins_on_segment_boundaries() -> None:
    r = _router()
    route, script, rest = r.match(None, b"/sub/deeper/x")
    assert (route.app, script, rest) == ("deeper", b"/sub/deeper", b"/x")
    route, script, rest = r.match(None, b"/sub/deeperer")
    assert (route.app, script, rest) == ("sub", b"/sub", b"/deeperer")
    route, script, rest = r.match(None, b"/subway")
    assert (route.app, script, rest) == ("root", b"", b"/subway")
    route, script, rest = r.match(None, b"/sub")
    assert (route.app, script, rest) == ("sub", b"/sub", b"")


def test_static_and_app_share_a_point() -> None:
    route, _, _ = _router().match(None, b"/files/a.txt")
    assert route.statics == ["files-static"] and route.app == "files-app"


def test_virtual_hosts_exact_then_longest_wildcard_then_default() -> None:
    r = _router()
    assert r.match(b"api.example.com", b"/")[0].app == "api"
    assert r.match(b"API.Example.com:8080", b"/")[0].app == "api"
    assert r.match(b"www.example.com", b"/")[0].app == "wild"
    assert r.match(b"example.com", b"/")[0].app == "wild"
    assert r.match(b"x.deep.example.com", b"/")[0].app == "deepwild"
    assert r.match(b"other.org", b"/")[0].app == "root"
    assert r.match(None, b"/")[0].app == "root"
    assert r.match(b"badexample.com", b"/")[0].app == "root"


def test_no_route_without_root_mount() -> None:
    r = Router()
    r.table_for(None).add("/only", app=_App("x"))
    assert r.match(None, b"/elsewhere") is None


def test_split_target_forms() -> None:
    assert split_target(b"/a/b?x=1") == (b"/a/b", b"x=1")
    assert split_target(b"http://h:1/a?q") == (b"/a", b"q")
    assert split_target(b"http://h:1") == (b"/", b"")
    assert split_target(b"*") == (b"*", b"")
    assert decode_path(b"/a%2Fb") == b"/a/b"


def test_resolve_splits_decodes_and_caches() -> None:
    r = _router()
    route, script, path_info, query = r.resolve(None, b"/sub/a%20b?x=1")
    assert (route.app, script, path_info, query) == ("sub", "/sub", "/a b", b"x=1")
    assert r.resolve(None, b"/sub/a%20b?x=1")[0] is route  # (served from the cache)
    assert r.resolve(b"api.example.com", b"/sub/a%20b?x=1")[0].app == "api"  # host is part of the key
    # a mount added later is seen: adding clears the cache
    r.table_for(None).add("/sub/a b", app=_App("later"))
    assert r.resolve(None, b"/sub/a%20b?x=1")[1:3] == ("/sub/a b", "")
    lone = Router()
    lone.table_for(None).add("/only", app=_App("x"))
    assert lone.resolve(None, b"/elsewhere") is None
    long_target = b"/only/" + b"a" * 1000
    assert lone.resolve(None, long_target)[2] == "/" + "a" * 1000
    assert (None, long_target) not in lone._cache  # long targets are not kept
