"""Credentials in package-index URLs never leave the build: every line a build writes to
its log, every error it reports and every log read through the API go through `mask`.

`https://user:secret@host/simple` becomes `https://user:***@host/simple`, and a token given
alone (`https://token@host/`) becomes `https://***@host/`. A `Masker` also replaces the
exact secrets of the configured index wherever they appear (uv may print them decoded or
percent-encoded, outside a URL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

# scheme://userinfo@ : userinfo holds no '/', '@' or whitespace
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"<>]+)@")
MASK = "***"


def _mask_userinfo(match: re.Match[str]) -> str:
    user, sep, _password = match.group("userinfo").partition(":")
    shown = f"{user}:{MASK}" if sep else MASK
    return f"{match.group('scheme')}{shown}@"


def mask(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by ***."""
    return _USERINFO.sub(_mask_userinfo, text)


def url_secrets(urls: Iterable[str]) -> list[str]:
    """The credential strings (password, or a lone token) of these URLs, raw and decoded."""
    found: set[str] = set()
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        for value in (parts.password, parts.username if parts.password is None else None):
            if value:
                found.update({value, unquote(value)})
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


class Masker:
    """Masks URL credentials and the known secrets of the configured index."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        text = mask(text)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
