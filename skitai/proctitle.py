"""The process title every skitai process sets (``skitai(<app>): worker #0``, ...).

``ps``, ``top`` and the test suite's leak guard tell the processes apart by it.  One
function for the master, the workers and the daemons (standalone or under the master).
"""

from __future__ import annotations


def set_title(title: str) -> None:
    """Set the process title (nothing when ``title`` is empty or setproctitle is absent)."""
    if not title:
        return
    try:
        import setproctitle
    except ImportError:  # a platform without a wheel: titles are cosmetic
        return
    setproctitle.setproctitle(title)
