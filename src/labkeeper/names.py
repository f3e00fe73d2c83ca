"""The one rule for names that may become file or directory names.

Project keys, notebook names, code env names and connection names all pass through
`check_name`, so none of them can escape the folder it is joined to.
"""

from __future__ import annotations

import re

from labkeeper.errors import BadRequest

MAX_NAME_LENGTH = 100
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\- ]*")
_PROJECT_KEY = re.compile(r"[A-Za-z0-9_]+")


def check_name(kind: str, value: object) -> str:
    """Return `value` if it is a safe name, else raise BadRequest saying what to fix."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Invalid {kind}: a non-empty string is required")
    if len(value) > MAX_NAME_LENGTH:
        raise BadRequest(f"Invalid {kind}: at most {MAX_NAME_LENGTH} characters, got {len(value)}")
    if value != value.strip() or not _NAME.fullmatch(value) or ".." in value:
        raise BadRequest(
            f"Invalid {kind} {value!r}: use letters, digits, '_', '-', '.' and inner spaces; "
            "no '/', '..', control characters, or leading/trailing spaces"
        )
    return value


def check_project_key(value: object) -> str:
    key = check_name("project key", value)
    if not _PROJECT_KEY.fullmatch(key):
        raise BadRequest(f"Invalid project key {key!r}: use only letters, digits and '_'")
    return key


def check_text(kind: str, value: object, *, max_length: int = 4096, allow_empty: bool = True) -> str:
    """Free text (labels, descriptions): bounded, no control characters but newline/tab."""
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"Invalid {kind}: a string is required")
    if len(value) > max_length:
        raise BadRequest(f"Invalid {kind}: at most {max_length} characters, got {len(value)}")
    if any(ord(c) < 32 and c not in "\n\t\r" for c in value):
        raise BadRequest(f"Invalid {kind}: control characters are not allowed")
    if not value and not allow_empty:
        raise BadRequest(f"Invalid {kind}: must not be empty")
    return value
