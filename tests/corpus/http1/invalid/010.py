"""Content-Length as a list (RFC 9110 8.6 allows a server to reject it)."""

status = 400
