"""User passwords: stored only as a salted scrypt hash, never returned.

The stored form is `scrypt$<n>$<r>$<p>$<salt>$<hash>` (salt and hash in urlsafe base64), so
the cost parameters can be raised later while older hashes still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from labkeeper.errors import BadRequest

MAX_PASSWORD_LENGTH = 1024
_N, _R, _P, _DKLEN = 2**14, 8, 1, 32


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_password(value: object) -> str | None:
    """A new password as sent: None or "" mean "no password given"."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("Invalid password: a string is required")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise BadRequest(f"Invalid password: at most {MAX_PASSWORD_LENGTH} characters")
    return value


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
