"""``python3 -m skitai.bin.cron -f ~/.skitai.conf [start|stop|restart|status]``: the
README's spelling of the standalone cron daemon (same as ``python -m skitai.cron``)."""

from __future__ import annotations

from skitai.cron.main import main

if __name__ == "__main__":
    main()
