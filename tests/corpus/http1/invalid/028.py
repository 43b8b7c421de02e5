"""A control character in a field name."""

status = 400
