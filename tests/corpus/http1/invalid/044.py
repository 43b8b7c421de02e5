"""An explicit HTTP/0.9: 505."""

status = 505
