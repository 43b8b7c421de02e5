"""A cheaper ``repr`` of HTTP/2 frame payloads, for every ``h2`` connection of the process.

``h2`` logs each frame it receives as ``logger.trace("Received frame: %s", repr(frame))``,
computing the ``repr`` even when nothing is logged, and hyperframe's ``repr`` of a DATA
(or HEADERS) frame hexlifies the whole payload, then keeps 20 hex digits of it: for a
16 KiB DATA frame about 265k instructions, nearly half of what receiving it costs (an
upload to the server, a download from an HTTP/2 member).  ``_raw_data_repr`` here makes
the same string from the first 11 bytes alone.  Imported for this side effect by the
server's and the upstream's HTTP/2 modules.
"""

from __future__ import annotations

import binascii

import hyperframe.frame

__all__ = ["raw_data_repr"]

_original = getattr(hyperframe.frame, "_raw_data_repr", None)


def raw_data_repr(data: bytes | None) -> str:
    """hyperframe's ``_raw_data_repr(data)``, byte for byte, hexlifying 11 bytes at most."""
    if not data:
        return "None"
    r = binascii.hexlify(data[:11]).decode("ascii")
    if len(r) > 20:
        r = r[:20] + "..."
    return "<hex:" + r + ">"


# Only where hyperframe has the function this replaces (a later version may not).
if _original is not None:
    hyperframe.frame._raw_data_repr = raw_data_repr  # noqa: SLF001 - the one function made cheap
