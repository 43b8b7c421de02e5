"""101 header fields, one over the default count limit (100, gunicorn's
limit_request_fields): 431."""

status = 431
