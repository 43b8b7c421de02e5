"""Mails per second delivered by the smtpda agent from a spool of N (default 2,000) to a
local aiosmtpd.  Usage: ``python3 bench/smtpda_bench.py [N] [concurrency]``."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from skitai.config.daemons import SmtpdaConfig  # noqa: E402
from skitai.smtpda import agent, message, spool  # noqa: E402
from tests.integration import smtpd_helper  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    ctl, rec = smtpd_helper.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            for i in range(n):
                m = message.Composer(f"bench {i}", "a@example.com", "b@example.com")
                m.add_content(f"<p>mail {i}</p>" * 20)
                m.send(tmp)
            t1 = time.perf_counter()
            ag = agent.Agent(SmtpdaConfig(server=f"127.0.0.1:{ctl.port}"), spool.Spool(tmp),
                             concurrency=conc)
            asyncio.run(ag.run_once())
            t2 = time.perf_counter()
            assert len(rec.messages) == n, len(rec.messages)
            print(f"spooled {n} in {t1 - t0:.2f}s ({n / (t1 - t0):.0f}/s); "
                  f"delivered {n} in {t2 - t1:.2f}s ({n / (t2 - t1):.0f} mails/s, "
                  f"concurrency {conc})")
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
