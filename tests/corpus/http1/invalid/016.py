"""HTTP/1.1 without Host (RFC 9112 3.2)."""

status = 400
