"""An unknown transfer coding before chunked: 501."""

status = 501
