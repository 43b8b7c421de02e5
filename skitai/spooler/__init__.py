"""The task spooler (uWSGI's spooler): ``@skitai.task`` / ``was.spool(func, *args)`` queue
a call into a crash-safe file spool (``skitai.filespool``, the library smtpda's mail
spool uses), and the ``spooler`` daemon (``skitai.enable_spooler(count=2)``) runs it."""
