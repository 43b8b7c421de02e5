"""Authenticated encryption of small JSON values for cookies and URL tokens.

Why this and not the original's way: Skitai 0.26 pickled session values and one-time
tokens and signed them with HMAC-SHA1, so anyone could read them and a leaked key meant
code execution (unpickling).  Here values are JSON (never pickle) sealed with AES-256-GCM-SIV
(RFC 8452) from ``cryptography``: authenticated encryption (a changed byte fails the tag,
nothing is readable without the key).

Why GCM-SIV rather than plain AES-GCM or Fernet: every cookie a server writes is sealed
under the same long-lived key with a random 96-bit nonce.  With plain GCM a repeated
nonce (likely after ~2^32 seals: days at 10k requests/s) leaks the authentication key
and allows forgeries; GCM-SIV derives a key per nonce and a repeat reveals at most that
two values were equal.  Fernet (AES-CBC + HMAC) has 57 bytes of overhead plus padding;
this has 33, which matters under the 4 KB cookie limit.

Format (URL-safe base64 without padding, so it fits a cookie value and a URL segment)::

    version(1) | key id(4) | nonce(12) | ciphertext | tag(16)

The associated data is ``version | key id | purpose``: a value sealed as the session
cookie ``SESSION`` does not open as a URL token or as the ``MBOX`` cookie.

Keys.  ``app.securekey`` is any string; each AES key is derived from it with HKDF-SHA256.
Rotation: a list of secrets, the first seals, every one opens (the key id picks the key,
so an old cookie costs no failed decryption).  Expiry lives inside the JSON (the caller
decides what "expired" means); ``Sealer`` only guarantees integrity and secrecy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # imported when the first key is made (``import skitai.saddle`` stays light)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

VERSION: Final = b"\x02"  # 2: AES-256-GCM-SIV
_KID_LEN: Final = 4
_NONCE_LEN: Final = 12
_HEAD_LEN: Final = 1 + _KID_LEN + _NONCE_LEN
_MIN_LEN: Final = _HEAD_LEN + 16


class SealError(ValueError):
    """A sealed value could not be opened: tampered, truncated, or sealed with another key."""


def derive_key(secret: str | bytes) -> bytes:
    """A 256-bit AES key from a secret string of any length."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not raw:
        raise ValueError("securekey is empty")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"skitai.saddle", info=b"seal v2 aes-gcm-siv"
    ).derive(raw)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    """Seal and open JSON-able values with one or more secrets (the first seals)."""

    __slots__ = ("_keys", "_seal_kid", "_seal_aead")

    def __init__(self, secrets: str | bytes | Sequence[str | bytes]) -> None:
        if isinstance(secrets, str | bytes):
            secrets = [secrets]
        if not secrets:
            raise ValueError("at least one securekey is needed")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

        self._keys: dict[bytes, AESGCMSIV] = {}
        for i, secret in enumerate(secrets):
            key = derive_key(secret)
            kid = hashlib.sha256(key).digest()[:_KID_LEN]
            self._keys.setdefault(kid, AESGCMSIV(key))
            if i == 0:
                self._seal_kid, self._seal_aead = kid, self._keys[kid]

    def seal_bytes(self, plain: bytes, purpose: bytes) -> str:
        nonce = os.urandom(_NONCE_LEN)
        head = VERSION + self._seal_kid
        sealed = self._seal_aead.encrypt(nonce, plain, head + purpose)
        return _b64encode(head + nonce + sealed)

    def open_bytes(self, token: str, purpose: bytes) -> bytes:
        try:
            raw = _b64decode(token)
        except (binascii.Error, ValueError) as exc:
            raise SealError("not base64") from exc
        if len(raw) < _MIN_LEN or raw[:1] != VERSION:
            raise SealError("truncated or unknown version")
        aead = self._keys.get(raw[1 : 1 + _KID_LEN])
        if aead is None:
            raise SealError("sealed with a key not in securekey")
        from cryptography.exceptions import InvalidTag

        try:
            return aead.decrypt(raw[1 + _KID_LEN : _HEAD_LEN], raw[_HEAD_LEN:], raw[: 1 + _KID_LEN] + purpose)
        except InvalidTag as exc:
            raise SealError("authentication failed") from exc

    def seal(self, value: Any, purpose: bytes) -> str:
        """JSON-encode ``value`` and seal it; a non-JSON value raises ``TypeError`` here."""
        return self.seal_bytes(json.dumps(value, separators=(",", ":")).encode(), purpose)

    def open(self, token: str, purpose: bytes) -> Any:
        plain = self.open_bytes(token, purpose)
        try:
            return json.loads(plain)
        except ValueError as exc:  # only a sealer with our key wrote it; still, be exact
            raise SealError("sealed value is not JSON") from exc


def sealed_length(plain_length: int) -> int:
    """Length of ``seal_bytes``'s output for ``plain_length`` bytes of JSON."""
    raw = _HEAD_LEN + plain_length + 16
    return (raw * 4 + 2) // 3
