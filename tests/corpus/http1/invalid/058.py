"""A smuggling attempt: Transfer-Encoding with a non-token character."""

status = 400
