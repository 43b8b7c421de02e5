from __future__ import annotations

import asyncio
import os
import time

import pytest

from skitai.config.daemons import SmtpdaConfig
from skitai.smtpda import agent, message, spool
from tests.integration import smtpd_helper

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _agent(port: int, sp: spool.Spool, **kw: object) -> agent.Agent:
    cfg = SmtpdaConfig(server=f"127.0.0.1:{port}", max_retry=int(kw.pop("max_retry", 3)))  # type: ignore[call-overload]
    return agent.Agent(cfg, sp, backoff_base=0.0, timeout=5.0, **kw)  # type: ignore[arg-type]


def test_html_attachment_inline_image_arrive_intact(tmp_path: os.PathLike[str]) -> None:
    ctl, rec = smtpd_helper.start()
    try:
        img = os.path.join(tmp_path, "logo.png")
        doc = os.path.join(tmp_path, "report.bin")
        with open(img, "wb") as f:
            f.write(PNG)
        with open(doc, "wb") as f:
            f.write(os.urandom(3000))
        m = message.Composer("Héllo 世界 report", '"Jörg Müller" <jorg@example.com>',
                             ["a@example.com", "b@example.com"])
        m.add_content('<p>hi <img src="cid:logo1"></p>', "text/html")
        m.add_attachment(img, cid="logo1")
        m.add_attachment(doc, name="résumé.bin")
        sp = spool.Spool(os.path.join(tmp_path, "spool"))
        mid = m.send(sp.root)
        asyncio.run(_agent(ctl.port, sp).run_once())
        assert len(rec.messages) == 1
        got = rec.messages[0]
        assert str(got["Message-ID"]) == mid
        assert str(got["Subject"]) == "Héllo 世界 report"
        assert got["From"].addresses[0].display_name == "Jörg Müller"
        html = got.get_body(("html",))
        assert "cid:logo1" in html.get_content()
        parts = {p.get_filename(): p for p in got.walk() if p.get_filename()}
        assert parts["logo.png"].get_payload(decode=True) == PNG
        assert parts["logo.png"]["Content-ID"] == "<logo1>"
        with open(doc, "rb") as f:
            assert parts["résumé.bin"].get_payload(decode=True) == f.read()
        assert sp.stats()["sent"] == 1 and sp.stats()["queued"] == 0
    finally:
        ctl.stop()


def test_server_down_then_up_retried(tmp_path: os.PathLike[str]) -> None:
    port = smtpd_helper.free_port()
    sp = spool.Spool(os.path.join(tmp_path, "spool"))
    mid = message.Composer("s", "a@example.com", "b@example.com").send(sp.root)
    ag = _agent(port, sp)
    asyncio.run(ag.run_once())
    st = sp.stats()
    assert st["deferred"] == 1 and st["sent"] == 0
    assert "Error" in sp.records("new")[0].reason
    ctl, rec = smtpd_helper.start(port)
    try:
        asyncio.run(ag.run_once())
        assert rec.ids() == [mid]
        assert sp.records("sent")[0].attempts == 2
    finally:
        ctl.stop()


def test_gives_up_after_max_retry(tmp_path: os.PathLike[str]) -> None:
    port = smtpd_helper.free_port()
    sp = spool.Spool(os.path.join(tmp_path, "spool"))
    message.Composer("s", "a@example.com", "b@example.com").send(sp.root)
    ag = _agent(port, sp, max_retry=3)
    for _ in range(5):
        asyncio.run(ag.run_once())
    failed = sp.records("failed")
    assert len(failed) == 1 and failed[0].attempts == 3


def test_550_fails_at_once(tmp_path: os.PathLike[str]) -> None:
    ctl, rec = smtpd_helper.start(reject="nobody")
    try:
        sp = spool.Spool(os.path.join(tmp_path, "spool"))
        message.Composer("s", "a@example.com", "nobody@example.com").send(sp.root)
        asyncio.run(_agent(ctl.port, sp, max_retry=10).run_once())
        failed = sp.records("failed")
        assert len(failed) == 1 and failed[0].attempts == 1
        assert "550" in (failed[0].reason or "")
        assert rec.messages == []
    finally:
        ctl.stop()


def test_keep_days_purge_on_injected_clock(tmp_path: os.PathLike[str]) -> None:
    ctl, _ = smtpd_helper.start()
    try:
        clock = Clock(time.time() + 1)  # the app spooled on the real clock
        sp = spool.Spool(os.path.join(tmp_path, "spool"), clock=clock)
        message.Composer("s", "a@example.com", "b@example.com").send(sp.root)
        sp2 = spool.Spool(sp.root, clock=clock)
        asyncio.run(_agent(ctl.port, sp2).run_once())
        assert sp2.stats()["sent"] == 1
        clock.t += 2 * 86400
        assert sp2.purge(3) == 0
        clock.t += 2 * 86400
        assert sp2.purge(3) == 1
        assert sp2.stats()["sent"] == 0
    finally:
        ctl.stop()


@pytest.mark.parametrize("bad", ["x\r\nBcc: evil@example.com", "x\nBcc: e@x"])
def test_header_injection_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        message.Composer(bad, "a@example.com", "b@example.com")
    m = message.Composer("ok", "a@example.com", "b@example.com")
    with pytest.raises(ValueError):
        m.set_header("X-Thing", bad)
