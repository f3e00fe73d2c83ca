"""Query-string helpers shared by every route."""

from __future__ import annotations

from labkeeper.errors import BadRequest

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def parse_bool(name: str, value: str | None, default: bool = False) -> bool:
    """DSS clients send `True`/`False` (Python's str of a bool) or `true`/`false`."""
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Query parameter '{name}' must be true or false, got {value!r}")


def parse_int(
    name: str, value: str | None, *, default: int | None = None, minimum: int = 0, maximum: int = 2**53
) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Query parameter '{name}' must be an integer, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise BadRequest(f"Query parameter '{name}' must be between {minimum} and {maximum}")
    return number
