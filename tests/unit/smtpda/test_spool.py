from __future__ import annotations

import email
import email.policy
import json
import os

import pytest

from skitai.smtpda import message, spool
from skitai.smtpda.spool import Input, State


def test_transition_table() -> None:
    assert spool.next_state(State.QUEUED, Input.CLAIM) is State.SENDING
    assert spool.next_state(State.SENDING, Input.TEMPFAIL) is State.DEFERRED
    assert spool.next_state(State.SENDING, Input.PERMFAIL) is State.FAILED
    with pytest.raises(spool.InvalidTransition):
        spool.next_state(State.SENT, Input.CLAIM)
    with pytest.raises(spool.InvalidTransition):
        spool.next_state(State.QUEUED, Input.OK)


def test_claim_and_recover(tmp_path: os.PathLike[str]) -> None:
    sp = spool.Spool(str(tmp_path))
    rec = sp.enqueue("a@x", ["b@x"], "Subject: s\r\n\r\nhi")
    assert sp.due(10) == [rec.id]
    claimed = sp.claim(rec.id)
    assert claimed is not None and claimed.state is State.SENDING
    assert sp.claim(rec.id) is None  # claimed once only
    assert sp.due(10) == []
    assert sp.recover() == 1  # a killed daemon's message comes back
    assert sp.due(10) == [rec.id]
    st = sp.stats()
    assert st["queued"] == 1 and st["sent"] == 0


def test_file_is_json_mode_0600(tmp_path: os.PathLike[str]) -> None:
    sp = spool.Spool(str(tmp_path))
    rec = sp.enqueue("a@x", ["b@x"], "x")
    path = os.path.join(str(tmp_path), "new", rec.id + ".json")
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as f:
        assert json.load(f)["mail_from"] == "a@x"


def test_no_password_when_daemon_server_is_used(tmp_path: os.PathLike[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message, "_configured", {"spool": None, "default_server": None})
    message.configure(str(tmp_path), "mail.example.com:25")
    m = message.Composer("s", "a@example.com", "b@example.com")
    m.set_smtp("mail.example.com:25", "bob", "s3cret")
    m.send()
    m = message.Composer("s", "a@example.com", "b@example.com")
    m.send()
    for rec in spool.Spool(str(tmp_path)).records("new"):
        assert rec.smtp is None
    raw = b"".join(open(os.path.join(str(tmp_path), "new", n), "rb").read()
                   for n in os.listdir(os.path.join(str(tmp_path), "new")))
    assert b"s3cret" not in raw


def test_non_ascii_headers_encoded() -> None:
    m = message.Composer("Grüße 日本", '"Zoë Ä" <z@example.com>', "b@example.com")
    m.add_content("<b>ß</b>")
    raw = m.build().as_bytes()
    assert all(b < 128 for b in raw.split(b"\n\n", 1)[0])  # headers are 7-bit (RFC 2047)
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(back["Subject"]) == "Grüße 日本"
    assert back["From"].addresses[0].display_name == "Zoë Ä"
    assert back["Message-ID"]
