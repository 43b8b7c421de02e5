"""The one Cache-Control parser the gateway's cache and was's result cache share."""

from __future__ import annotations

from skitai.upstream import cachecontrol


def test_directives_of_every_header_lower_cased_and_unquoted():
    headers = [(b"cache-control", b'Max-Age=60, no-transform'),
               (b"cache-control", b'private="set-cookie"'), (b"etag", b'"x"')]
    assert cachecontrol.directives(headers) == {
        "max-age": "60", "no-transform": "", "private": "set-cookie"}


def test_client_revalidates():
    assert cachecontrol.client_revalidates([(b"cache-control", b"no-cache")])
    assert cachecontrol.client_revalidates([(b"cache-control", b"max-age=0")])
    assert cachecontrol.client_revalidates([(b"pragma", b"No-Cache")])
    assert not cachecontrol.client_revalidates([(b"cache-control", b"max-age=05")])
    assert not cachecontrol.client_revalidates([(b"cache-control", b"max-stale")])
    assert not cachecontrol.client_revalidates([])


def test_private_ttl_is_what_was_may_keep():
    assert cachecontrol.private_ttl("max-age=60") == 60
    assert cachecontrol.private_ttl("public, s-maxage=30, max-age=10") == 30
    for value in ("max-age=60, no-store", "no-cache", "private, max-age=9", "max-age=x", "",
                  None):
        assert cachecontrol.private_ttl(value) == 0


def test_seconds():
    cc = cachecontrol.parse("max-age=12, s-maxage=abc")
    assert cachecontrol.seconds(cc, "max-age") == 12
    assert cachecontrol.seconds(cc, "s-maxage") is None
    assert cachecontrol.seconds(cc, "min-fresh") is None
