"""``python -m skitai.server.bin.smtpda -f ~/.skitai.conf -d``: the seed's rc.local spelling
of the standalone mail daemon (the same as ``python -m skitai.bin.smtpda``)."""

from __future__ import annotations

from skitai.smtpda.main import main

if __name__ == "__main__":
    main()
