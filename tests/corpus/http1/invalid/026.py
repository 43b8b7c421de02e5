"""A control character (0x01) in a field value."""

status = 400
