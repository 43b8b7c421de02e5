"""A request line longer than max_request_line (64): 414."""

limits = {"max_request_line": 64}
status = 414
