"""chunked twice, in two fields."""

status = 400
