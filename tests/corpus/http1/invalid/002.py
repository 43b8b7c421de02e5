"""Transfer-Encoding then Content-Length."""

status = 400
