"""labkeeper's client, as copied onto a notebook kernel's path.

Only `labkeeper.client` is here. It needs httpx; when orjson is not installed in the
kernel's environment, the client's JSON codec falls back to the standard library.
"""

import sys

try:
    import orjson  # noqa: F401
except ImportError:
    from labkeeper import _jsoncompat

    sys.modules["orjson"] = _jsoncompat
    try:
        import labkeeper.client._http  # noqa: F401  (binds the stand-in inside the client only)
    finally:
        del sys.modules["orjson"]
