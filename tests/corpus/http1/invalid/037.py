"""Binary garbage (a TLS ClientHello on the plain port)."""

status = 400
