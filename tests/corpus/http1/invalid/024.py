"""A bare LF line ending in the header section (we keep llhttp's strictness)."""

status = 400
