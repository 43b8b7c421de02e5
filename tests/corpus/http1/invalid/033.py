"""chunked is not the final transfer coding (RFC 9112 6.3)."""

status = 400
