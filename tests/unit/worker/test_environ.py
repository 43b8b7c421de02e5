from __future__ import annotations

import io

from skitai.worker import events
from skitai.worker.environ import base_environ, build_environ


def _environ(target: bytes = b"/sub/a%20b/c?x=1&y=%20", headers=None, script=b"/sub", **kw):
    req = events.Request(1, b"GET", target, headers or [(b"host", b"example.com:8080")], b"1.1", **kw)
    path, _, query = target.partition(b"?")
    from urllib.parse import unquote_to_bytes
    decoded = unquote_to_bytes(path)
    return build_environ(req, script_name=script.decode("latin-1"),
                         path_info=decoded[len(script):].decode("latin-1"), query=query,
                         scheme="http", client=("10.0.0.1", 5555), server=("127.0.0.1", 8080),
                         body=io.BytesIO(b""), base=base_environ(multithread=True, multiprocess=False,
                                                               file_wrapper=None))


def test_script_name_is_mount_point_and_path_info_is_decoded_rest() -> None:
    env = _environ()
    assert env["SCRIPT_NAME"] == "/sub"
    assert env["PATH_INFO"] == "/a b/c"
    assert env["QUERY_STRING"] == "x=1&y=%20"  # the query is never decoded
    assert env["RAW_URI"] == "/sub/a%20b/c?x=1&y=%20"


def test_path_info_bytes_survive_as_latin1() -> None:
    env = _environ(target=b"/sub/%C3%A9", script=b"/sub")
    assert env["PATH_INFO"] == "/\u00c3\u00a9"  # PEP 3333: latin-1 "bytes in a str"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/\u00e9"


def test_server_name_and_port_from_host_header() -> None:
    env = _environ()
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "8080")
    env = _environ(headers=[(b"host", b"[::1]:9000")])
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[::1]", "9000")
    env = _environ(headers=[(b"accept", b"*/*")])
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", "8080")


def test_headers_become_http_keys_combined_and_underscore_names_dropped() -> None:
    env = _environ(headers=[
        (b"host", b"h"), (b"content-type", b"text/plain"), (b"content-length", b"5"),
        (b"x-thing", b"a"), (b"x-thing", b"b"), (b"cookie", b"a=1"), (b"cookie", b"b=2"),
        (b"x_forwarded_for", b"evil"),
    ])
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_THING"] == "a,b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_X_FORWARDED_FOR" not in env


def test_wsgi_keys() -> None:
    env = _environ()
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True and env["wsgi.multiprocess"] is False
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "10.0.0.1" and env["REMOTE_PORT"] == "5555"


def test_every_value_is_a_native_string() -> None:
    env = _environ()
    for key, value in env.items():
        if key.isupper():
            assert isinstance(value, str), key


def test_connection_cache_reuses_the_header_entries_only_while_they_match() -> None:
    from skitai.worker.environ import EnvironCache

    base = base_environ(multithread=False, multiprocess=False, file_wrapper=None)
    cache = EnvironCache()

    def env(headers, chunked=False, target=b"/a?x=1"):
        req = events.Request(1, b"POST" if chunked else b"GET", target, headers, b"1.1",
                             None, chunked)
        return build_environ(req, script_name="", path_info=target.split(b"?")[0].decode(),
                             query=target.partition(b"?")[2], scheme="http",
                             client=("10.0.0.1", 5555), server=("127.0.0.1", 8080),
                             body=io.BytesIO(b""), base=base, cache=cache)

    first = env([(b"host", b"a.example:81"), (b"cookie", b"a=1"), (b"cookie", b"b=2")])
    again = env([(b"host", b"a.example:81"), (b"cookie", b"a=1"), (b"cookie", b"b=2")],
                target=b"/b")
    assert again["HTTP_COOKIE"] == first["HTTP_COOKIE"] == "a=1; b=2"
    assert (again["SERVER_NAME"], again["SERVER_PORT"]) == ("a.example", "81")
    assert again["PATH_INFO"] == "/b" and again["QUERY_STRING"] == ""  # per request, not cached
    assert again["REMOTE_PORT"] == "5555" and again is not first
    other = env([(b"host", b"b.example")])  # a different head: made anew
    assert other["SERVER_NAME"] == "b.example" and "HTTP_COOKIE" not in other
    chunked = env([(b"host", b"b.example")], chunked=True)  # same fields, chunked body
    assert chunked["CONTENT_LENGTH"] == ""
    assert "CONTENT_LENGTH" not in env([(b"host", b"b.example")])
    # the environ handed to an app is its own: changing it changes no later one
    other["HTTP_HOST"] = "changed"
    assert env([(b"host", b"b.example")])["HTTP_HOST"] == "b.example"


def test_connection_cache_template_follows_the_extra_keys_of_each_request() -> None:
    from skitai.worker.environ import EnvironCache

    base = base_environ(multithread=False, multiprocess=False, file_wrapper=None)
    cache = EnvironCache()
    headers = [(b"host", b"a.example")]

    def env(extra):
        req = events.Request(1, b"GET", b"/a", headers, b"1.1")
        return build_environ(req, script_name="", path_info="/a", query=b"", scheme="http",
                             client=("10.0.0.1", 5555), server=("127.0.0.1", 8080),
                             body=io.BytesIO(b""), base=base, extra=extra, cache=cache)

    hinted = env({"skitai.hint_promise": "first"})
    assert hinted["skitai.hint_promise"] == "first"
    assert env({"skitai.hint_promise": "second"})["skitai.hint_promise"] == "second"
    plain = env(None)  # the same head without the extra: the key is not left behind
    assert "skitai.hint_promise" not in plain
    assert plain["HTTP_HOST"] == "a.example" and plain["REQUEST_METHOD"] == "GET"
    assert env({"skitai.hint_promise": "third"})["skitai.hint_promise"] == "third"
