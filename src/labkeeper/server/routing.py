"""Routes: every domain router on one flat list, and an index that finds a request's route.

FastAPI 0.165 matches a request against the registered routes one after the other, a few
microseconds each, and walks an included router as a nested level: with some 120 routes a
request paid up to a millisecond before its handler ran. Domain routers are therefore made
with the API prefix already in their paths (`api_router`) and their routes are put straight
on the application's router, and `RouteIndex` narrows each request down to the routes whose
literal path segments match it; FastAPI then matches and runs the route as it always does.
What the index does not settle (a 405 for a wrong method, a 404) takes FastAPI's full walk.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from labkeeper.server.middleware import API_PREFIX


def api_router(*tags: str) -> APIRouter:
    """A domain's router, its paths under the API prefix."""
    return APIRouter(prefix=API_PREFIX, tags=list(tags))


Index = dict[int, list[tuple[list[tuple[int, str]], Route]]]


def _shape(path: str) -> list[str | None]:
    """A path's segments, None for one with a path parameter (which matches in one segment)."""
    return [None if "{" in part else part for part in path.split("/")]


class RouteIndex:
    """Stands in for a router's dispatch (`router.middleware_stack`), which it falls back to."""

    def __init__(self, router: APIRouter) -> None:
        self._router = router
        self._fallback = router.middleware_stack
        self._indexed_count = -1
        self._by_length: Index | None = None

    def candidates(self, path: str) -> list[Route]:
        """The routes, in registration order, whose literal segments are those of `path`."""
        index = self._index()
        if index is None:
            return []
        parts = path.split("/")
        return [
            route
            for literals, route in index.get(len(parts), ())
            if all(parts[position] == text for position, text in literals)
        ]

    def _index(self) -> Index | None:
        routes = self._router.routes
        if self._indexed_count != len(routes):  # routes are all added before serving
            index: Index | None = {}
            for route in routes:
                path = getattr(route, "path", "")
                if type(route) not in (Route, APIRoute) or ":path}" in path:
                    index = None  # a mount, a nested router, a multi-segment parameter: no guessing
                    break
                shape = _shape(path)
                literals = [(i, part) for i, part in enumerate(shape) if part is not None]
                index.setdefault(len(shape), []).append((literals, route))
            self._by_length, self._indexed_count = index, len(routes)
        return self._by_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in self.candidates(scope["path"]):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:  # what the router's own walk would pick first
                    scope.setdefault("router", self._router)
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self._fallback(scope, receive, send)


def install(app_router: APIRouter, routers: list[APIRouter]) -> None:
    """Put every route of `routers` on `app_router`, and index its dispatch."""
    for router in routers:
        app_router.routes.extend(router.routes)
    app_router.middleware_stack = RouteIndex(app_router)
