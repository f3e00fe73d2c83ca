"""Making, hashing and recognising API key secrets."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

KEY_PREFIX = "lk_"
SHOWN_CHARS = 7
MIN_SECRET_LENGTH = 16


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_hex(8)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def shown_prefix(secret: str) -> str:
    return secret[:SHOWN_CHARS]


def masked(prefix: str) -> str:
    """What every response but the creation one shows in `key`."""
    return f"{prefix}{'*' * 12}"


def secret_from_header(authorization: str | None) -> str | None:
    """Extract the key from HTTP Basic (key as user or as password) or a Bearer token."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return value or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return user or password or None
    return None
