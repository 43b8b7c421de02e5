"""Content-Length with a space inside."""

status = 400
