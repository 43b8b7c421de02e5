"""A space after the HTTP version."""

status = 400
