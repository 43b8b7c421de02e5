"""Content-Length with a sign."""

status = 400
