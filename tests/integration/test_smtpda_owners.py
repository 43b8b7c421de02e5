"""Issue 10 item 2: mail is delivered only by the daemon of the configuration that queued
it, even when two apps share one spool; two standalone daemons sharing a spool on purpose
(the seed's rc.local setup) still deliver everything."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from skitai.config.daemons import SmtpdaConfig
from skitai.smtpda import agent, message, spool
from tests.fixtures.master import wait_for
from tests.fixtures.web import WebApp
from tests.integration import smtpd_helper


def _subjects(rec: smtpd_helper.Recorder) -> list[str]:
    with rec.lock:
        return [str(m["Subject"]) for m in rec.messages]


def test_two_apps_sharing_a_spool_each_deliver_only_their_own(tmp_path: Path) -> None:
    shared = tmp_path / "shared-spool"
    servers = [smtpd_helper.start(), smtpd_helper.start()]
    apps: list[WebApp] = []
    try:
        for i, (ctl, _rec) in enumerate(servers):
            home = tmp_path / f"app{i}"
            home.mkdir()
            conf = home / "skitai.conf"
            conf.write_text(f"[smtpda]\nspool = {shared}\n")
            conf.chmod(0o600)
            apps.append(WebApp(home, run_args="workers=1",
                               setup=f'skitai.enable_smtpda("127.0.0.1:{ctl.port}")\n',
                               args=("-f", str(conf))))
        for w in apps:
            wait_for(lambda w=w: w.rows("smtpda"), timeout=20)
        for n in range(15):
            for i, w in enumerate(apps):
                assert w.get(f"/mail?subject=app{i}-{n}")[0] == 200
        for _ctl, rec in servers:
            wait_for(lambda r=rec: len(_subjects(r)) >= 15, timeout=60)
        for i, (_ctl, rec) in enumerate(servers):
            got = _subjects(rec)
            assert sorted(got) == sorted(f"app{i}-{n}" for n in range(15)), got
    finally:
        for w in apps:
            w.stop()
        for ctl, _rec in servers:
            ctl.stop()


def test_two_standalone_daemons_share_one_spool_on_purpose(tmp_path: Path) -> None:
    ctl, rec = smtpd_helper.start()
    try:
        root = os.path.join(tmp_path, "spool")
        for n in range(20):  # what an app without its own smtpda queues: untagged
            message.Composer(f"m{n}", "app@example.com", "you@example.com").send(root)
        cfg = SmtpdaConfig(server=f"127.0.0.1:{ctl.port}")

        async def both() -> None:
            agents = [agent.Agent(cfg, spool.Spool(root), timeout=5.0, owner=None)
                      for _ in range(2)]
            await asyncio.gather(*(a.run_once() for a in agents))

        asyncio.run(both())
        assert sorted(_subjects(rec)) == sorted(f"m{n}" for n in range(20))
        # ... and a master's own smtpda leaves untagged mail to them.
        message.Composer("late", "app@example.com", "you@example.com").send(root)
        mine = agent.Agent(cfg, spool.Spool(root), timeout=5.0, owner="some-app")
        assert asyncio.run(mine.run_once()) == 0
    finally:
        ctl.stop()
