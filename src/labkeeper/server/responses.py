"""JSON in and out: orjson both ways, and one reader for request bodies."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from labkeeper.errors import BadRequest


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def empty_response(status_code: int = 204) -> Response:
    return Response(status_code=status_code)


async def read_json(
    request: Request, *, expect: type | tuple[type, ...] = dict, required: bool = True
) -> Any:
    """Parse the request body; a malformed or wrongly typed body is a 400 saying so."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BadRequest("A JSON request body is required")
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON body: {exc}") from None
    if not isinstance(value, expect):
        wanted = expect.__name__ if isinstance(expect, type) else " or ".join(t.__name__ for t in expect)
        names = {"dict": "a JSON object", "list": "a JSON array", "str": "a JSON string"}
        raise BadRequest(f"The request body must be {names.get(wanted, wanted)}, got {type(value).__name__}")
    return value
