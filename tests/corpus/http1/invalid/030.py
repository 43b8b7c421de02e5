"""A method that is not a token."""

status = 400
