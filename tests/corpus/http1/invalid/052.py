"""An empty Transfer-Encoding."""

status = 400
