"""A request line of 4095 bytes, one over the default limit (4094, gunicorn's
limit_request_line): 414."""

status = 414
