"""Two Host fields (RFC 9112 3.2)."""

status = 400
