"""An unknown transfer coding alone: 501 (RFC 9112 6.1)."""

status = 501
