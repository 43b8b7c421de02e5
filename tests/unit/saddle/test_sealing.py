from __future__ import annotations

import pytest

from skitai.saddle import sealing


def test_round_trip_and_purpose_binding():
    s = sealing.Sealer("secret")
    token = s.seal({"a": [1, "x"]}, b"session:SESSION")
    assert s.open(token, b"session:SESSION") == {"a": [1, "x"]}
    with pytest.raises(sealing.SealError):
        s.open(token, b"mbox:MBOX")
    assert len(token) == sealing.sealed_length(len(b'{"a":[1,"x"]}'))


def test_tampering_fails():
    s = sealing.Sealer("secret")
    token = s.seal("v", b"p")
    for i in range(0, len(token)):
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        with pytest.raises(sealing.SealError):
            s.open(flipped, b"p")
    for bad in ("", "!!!", token[:10]):
        with pytest.raises(sealing.SealError):
            s.open(bad, b"p")


def test_key_rotation():
    old = sealing.Sealer("old")
    token = old.seal(1, b"p")
    rotated = sealing.Sealer(["new", "old"])
    assert rotated.open(token, b"p") == 1
    fresh = rotated.seal(2, b"p")
    assert sealing.Sealer("new").open(fresh, b"p") == 2
    with pytest.raises(sealing.SealError):
        old.open(fresh, b"p")
    with pytest.raises(sealing.SealError):
        sealing.Sealer("new").open(token, b"p")


def test_no_pickle_only_json():
    with pytest.raises(TypeError):
        sealing.Sealer("k").seal(object(), b"p")


def test_empty_key_refused():
    with pytest.raises(ValueError):
        sealing.Sealer("")
