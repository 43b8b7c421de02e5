"""One header field of 12 KiB, over the default field limit (8190 bytes of name and
value, gunicorn's limit_request_field_size): 431."""

status = 431
