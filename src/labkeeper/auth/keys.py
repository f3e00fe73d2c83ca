"""Making, hashing and recognising API key secrets."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
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
    """The key of a Bearer token or HTTP Basic credentials (the first to try, see below)."""
    candidates = secrets_from_header(authorization)
    return candidates[0] if candidates else None


def secrets_from_header(authorization: str | None) -> tuple[str, ...]:
    """The strings that may be the key, in the order to try them.

    Bearer: the token. HTTP Basic: the key may be the user name or the password, whatever the
    other field holds (`curl -u KEY:`, `-u :KEY`, `-u admin:KEY`, DSS clients send `KEY:`).
    When both fields are filled, the one shaped like a labkeeper key is tried first and the
    other second; two lookups at worst, one in every usual case.
    """
    if not authorization:
        return ()
    scheme, _, value = authorization.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return (value,) if value else ()
    if scheme != "basic":
        return ()
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ()
    user, _, password = decoded.partition(":")
    if not password:
        return (user,) if user else ()
    if not user:
        return (password,)
    if password.startswith(KEY_PREFIX) and not user.startswith(KEY_PREFIX):
        return (password, user)
    return (user, password)


# What may be an API key in a path or a log line: a labkeeper secret (`lk_` and at least 13
# more characters of its alphabet), a DSS-style prefixed key (`dkuaps-...`), or a long run of
# letters and digits mixing upper case, lower case and digits, as DSS's 32-character keys
# do. Ids labkeeper makes (16 hex digits, UUIDs) and ordinary names do not match.
_KEY_LIKE = re.compile(
    r"(?<![A-Za-z0-9_-])(lk_[A-Za-z0-9_-]{13,}|dku[a-z]{0,4}-[A-Za-z0-9_-]{16,}|[A-Za-z0-9]{24,})(?![A-Za-z0-9_-])"
)
MASK = "[redacted]"


def _masked_match(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith(("lk_", "dku")) or _mixed(text):
        return MASK
    return text


def _mixed(text: str) -> bool:
    return (
        any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)
    )


def mask_secrets(text: str) -> str:
    """`text` with every key-like value (see _KEY_LIKE) replaced by "[redacted]"."""
    if len(text) < 16:
        return text
    return _KEY_LIKE.sub(_masked_match, text)
