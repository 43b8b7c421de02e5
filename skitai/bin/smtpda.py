"""``python3 -m skitai.bin.smtpda -f ~/.skitai.conf [start|stop|restart|status]``: the
README's spelling of the standalone mail daemon (same as ``python -m skitai.smtpda``)."""

from __future__ import annotations

from skitai.smtpda.main import main

if __name__ == "__main__":
    main()
