"""Service daemons: the public interface (``DaemonContext``) and the host that runs them.

A Python daemon is a function ``main(ctx) -> int`` named by ``"package.module:main"``::

    def main(ctx):
        while not ctx.stopping():
            ctx.heartbeat()
            ctx.log.info("tick %s", ctx.config.get("greeting", "hello"))
            ctx.wait(1.0)          # sleeps, but wakes at once when asked to stop
        return 0

enabled by ``skitai.enable_daemon("ticker", "tickd:main", greeting="hi")``, by a
``[daemon:ticker]`` section, or by a package's ``skitai.daemons`` entry point.
"""

from skitai.daemons.context import DaemonContext

__all__ = ["DaemonContext"]
