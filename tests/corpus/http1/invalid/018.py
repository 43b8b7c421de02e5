"""A Host value that cannot be a host."""

status = 400
