"""Three fields over max_fields (2): 431."""

limits = {"max_fields": 2}
status = 431
