"""If-Modified-Since twice: a singleton field (RFC 9110) whose duplicates would let a proxy and
the app each pick another value: 400."""

status = 400
