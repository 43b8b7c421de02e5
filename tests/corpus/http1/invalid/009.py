"""Content-Length too large for 64 bits."""

status = 400
