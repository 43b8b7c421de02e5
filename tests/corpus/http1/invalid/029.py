"""A character that is not a token character in a field name."""

status = 400
