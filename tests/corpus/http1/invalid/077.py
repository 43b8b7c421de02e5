"""The asterisk-form target with POST (RFC 9112 3.2.4: only OPTIONS): 400."""

status = 400
