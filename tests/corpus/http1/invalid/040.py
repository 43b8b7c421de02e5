"""A head one byte longer than max_header_bytes (128): 431."""

limits = {"max_request_line": 64, "max_header_bytes": 128}
status = 431
