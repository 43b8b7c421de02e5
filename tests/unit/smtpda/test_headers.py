"""Issue 10 item 3: every spooled mail carries ``Date:`` (RFC 5322 3.6) and a ``Message-ID``."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from skitai.smtpda import message


def test_mail_has_date_and_message_id() -> None:
    msg = message.Composer("hi", "app@example.com", "you@example.com").build()
    assert parsedate_to_datetime(str(msg["Date"])).tzinfo is not None
    assert str(msg["Message-ID"]).startswith("<") and str(msg["Message-ID"]).endswith("@example.com>")
    assert len(msg.get_all("Date")) == 1


def test_a_date_the_caller_sets_replaces_ours() -> None:
    m = message.Composer("hi", "app@example.com", "you@example.com")
    m.set_header("Date", "Mon, 02 Jan 2006 15:04:05 +0000")
    msg = m.build()
    assert msg.get_all("Date") == ["Mon, 02 Jan 2006 15:04:05 +0000"]
