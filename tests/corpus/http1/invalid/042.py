"""HTTP/1.2 is rejected by llhttp: 505."""

status = 505
