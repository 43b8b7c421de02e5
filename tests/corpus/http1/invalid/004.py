"""Duplicate Content-Length with different values."""

status = 400
