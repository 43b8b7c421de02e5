"""A target with a space inside (request-line has exactly three parts)."""

status = 400
