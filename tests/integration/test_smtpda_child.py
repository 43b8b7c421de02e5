"""``skitai.smtpda.main:run(config, ctx)`` in a forked child, as the master runs it."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

from skitai.config.daemons import SmtpdaConfig
from skitai.config.model import ServerConfig
from skitai.ipc.context import ChildContext
from skitai.smtpda import main, message
from tests.integration import smtpd_helper


def test_run_under_master_delivers_and_stops_on_term(tmp_path: os.PathLike[str]) -> None:
    ctl, rec = smtpd_helper.start()
    pid = 0
    try:
        cfg = dataclasses.replace(ServerConfig(), varpath=str(tmp_path), name="t",
                                  smtpda=SmtpdaConfig(server=f"127.0.0.1:{ctl.port}"))
        root = main.spool_dir(cfg.smtpda, cfg.varpath)
        assert root == os.path.join(str(tmp_path), "smtpda")
        mid = message.Composer("child", "a@example.com", "b@example.com").send(root)
        pid = os.fork()
        if pid == 0:  # the child, as the master would enter it
            code = 1
            try:
                code = main.run(cfg, ChildContext(role="smtpda", title="skitai(t): smtpda"))
            finally:
                os._exit(code)
        deadline = time.monotonic() + 20
        while mid not in rec.ids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mid in rec.ids()
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        ctl.stop()
