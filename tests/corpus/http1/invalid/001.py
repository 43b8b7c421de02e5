"""Content-Length with Transfer-Encoding (RFC 9112 6.3: smuggling risk)."""

status = 400
