"""A method llhttp does not know (it parses only registered methods)."""

status = 400
