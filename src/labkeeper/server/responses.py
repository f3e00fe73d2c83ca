"""JSON in and out: orjson both ways, and one decoder for request bodies (server/dispatch.py).

Every body is read here, so the limits of what a user may store hold for every route:
nesting deeper than MAX_JSON_DEPTH is a 400 (orjson writes back at most 254 levels, so a
deeper stored document would make every later read fail).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Response
from starlette.types import Receive, Scope, Send

from labkeeper.errors import BadRequest

MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` nests arrays and objects more than `limit` levels (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def check_json_depth(value: Any, where: str = "The request body") -> None:
    if isinstance(value, dict | list) and json_depth_exceeds(value):
        raise BadRequest(
            f"{where} nests arrays and objects more than {MAX_JSON_DEPTH} levels deep: flatten it",
        )


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def empty_response(status_code: int = 204) -> Response:
    return Response(status_code=status_code)


class OnLoop(Response):
    """The answer of a state-changing route whose last step needs the event loop: a task's
    stop, a wait for its end. The route's writes and its audit row commit in its unit of work
    (server/units.py), under `status_code`; then, on the loop, `finish()` runs and the
    response it returns is sent."""

    def __init__(self, finish: Callable[[], Awaitable[Response]], *, status_code: int = 200) -> None:
        super().__init__(status_code=status_code)
        self.finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.finish()
        await response(scope, receive, send)


def decode_json(raw: bytes) -> Any:
    """A request body's JSON, or a 400 saying what is wrong with it. orjson reads it: what it
    accepts, the store and every answer can write back (64-bit integers, valid UTF-8)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc).lower() or "recursion" in str(exc).lower():
            raise BadRequest(
                f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep: "
                "flatten it"
            ) from None
        raise BadRequest(f"Malformed JSON body: {exc}") from None
    check_json_depth(value)
    return value
