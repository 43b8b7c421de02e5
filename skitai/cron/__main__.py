"""``python -m skitai.cron [-f CONF] [start|stop|restart|status] [-d] [-v]``."""

from __future__ import annotations

from skitai.cron.main import main

if __name__ == "__main__":
    main()
