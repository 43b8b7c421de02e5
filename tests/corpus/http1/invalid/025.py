"""Bare LF line endings everywhere."""

status = 400
