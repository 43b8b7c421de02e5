"""Content-Length that is not a number."""

status = 400
