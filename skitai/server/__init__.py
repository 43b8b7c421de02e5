"""The seed's ``skitai.server`` package, kept only for the spelling its rc.local line uses:
``python -m skitai.server.bin.smtpda -f ~/.skitai.conf -d``."""
