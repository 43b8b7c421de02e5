"""CR CR LF after the request line."""

status = 400
