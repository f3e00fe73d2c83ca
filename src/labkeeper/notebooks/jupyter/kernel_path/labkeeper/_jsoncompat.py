"""The part of orjson's interface labkeeper's client uses, on the standard json module."""

import json

JSONDecodeError = json.JSONDecodeError
OPT_NON_STR_KEYS = 1
OPT_INDENT_2 = 2


def _default(value):  # type: ignore[no-untyped-def]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value, default=None, option=0):  # type: ignore[no-untyped-def]
    indent = 2 if option & OPT_INDENT_2 else None
    return json.dumps(value, default=default or _default, indent=indent, separators=(",", ":")).encode()


def loads(data):  # type: ignore[no-untyped-def]
    return json.loads(data)
