"""Duplicate Content-Length, even with equal values."""

status = 400
