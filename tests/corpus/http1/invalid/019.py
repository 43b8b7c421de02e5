"""obs-fold: a field line that starts with a space (RFC 9112 5.2)."""

status = 400
