from __future__ import annotations

import pytest

from skitai.saddle import cors


def test_listed_origins():
    p = cors.Policy.make(["https://good.example/"], 3600)
    assert p is not None
    status, headers = p.preflight("https://good.example", "POST", "content-type", ["POST"])
    assert status == 204
    assert ("Access-Control-Allow-Origin", "https://good.example") in headers
    assert ("Access-Control-Allow-Methods", "OPTIONS, POST") in headers
    assert ("Access-Control-Allow-Headers", "content-type") in headers
    assert ("Access-Control-Max-Age", "3600") in headers and ("Vary", "Origin") in headers
    assert p.preflight("https://evil.example", "POST", None, ["POST"])[0] == 403
    assert p.preflight("https://good.example", "DELETE", None, ["POST"])[0] == 403
    assert p.actual("https://evil.example") == [("Vary", "Origin")]


def test_any_origin_and_credentials():
    p = cors.Policy.make("*")
    assert p is not None and p.actual("https://x") == [("Access-Control-Allow-Origin", "*")]
    with pytest.raises(ValueError, match="credentials"):
        cors.Policy.make(["*"], allow_credentials=True)
    c = cors.Policy.make(["https://a"], allow_credentials=True)
    assert c is not None and ("Access-Control-Allow-Credentials", "true") in c.actual("https://a")
    assert cors.Policy.make(None) is None


def test_is_preflight():
    assert cors.is_preflight("OPTIONS", "https://a", "POST")
    assert not cors.is_preflight("OPTIONS", "https://a", None)
    assert not cors.is_preflight("POST", "https://a", "POST")
