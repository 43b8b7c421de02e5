"""An HTTP/2.0 request line (not the preface): 505."""

status = 505
