"""Empty Content-Length."""

status = 400
