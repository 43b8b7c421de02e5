"""A field of 15 bytes of name and value over max_field_size (14): 431."""

limits = {"max_field_size": 14}
status = 431
