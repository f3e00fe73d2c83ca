"""The hottest reads, answered without FastAPI's middleware, routing and dependencies.

Even with the route index (server/routing.py), FastAPI's middleware layers, request
handling and dependency solving cost about 100 us a request, several times the work of the
hottest reads (about 25 us in-process with this lane). The GET paths in `fast_routes` are answered by the very
handlers their FastAPI routes are registered with, so there is one implementation and the
OpenAPI document still lists them; every other request takes the ordinary path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from labkeeper.errors import LabkeeperError
from labkeeper.server.errors import unexpected_error
from labkeeper.server.responses import json_response

Handler = Callable[[Request], Awaitable[Response]]


class FastLaneApp(FastAPI):
    """The FastAPI app, except that the GET paths in `fast_routes` are answered before the
    middleware stack: they have no body to limit, are not audited, and each layer costs."""

    fast_routes: dict[str, Handler]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            handler = self.fast_routes.get(scope["path"])
            if handler is not None:
                scope["app"] = self
                request = Request(scope, receive)
                try:
                    response = await handler(request)
                except LabkeeperError as exc:
                    response = json_response(exc.body(), exc.status)
                except Exception as exc:  # noqa: BLE001 - answered like any unexpected error
                    response = unexpected_error(request, exc)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
