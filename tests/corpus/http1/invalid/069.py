"""Two Content-Length fields with different values (RFC 9112 6.3 item 5): 400."""

status = 400
