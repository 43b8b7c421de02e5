"""``python -m skitai.smtpda [-f CONF] [start|stop|restart|status] [-d] [-v]``."""

from __future__ import annotations

from skitai.smtpda.main import main

if __name__ == "__main__":
    main()
