"""DEL (0x7F) in a field value."""

status = 400
