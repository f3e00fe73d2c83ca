"""The route index picks, for every request, the very route FastAPI's own walk would."""

from __future__ import annotations

import re

from starlette.routing import Match

from labkeeper.server.routing import RouteIndex
from tests.conftest import Instance
from tests.helpers import assert_error


def sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", path)


def first_full_match(routes: list, scope: dict):  # type: ignore[no-untyped-def]
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def test_the_index_agrees_with_the_full_walk_on_every_route(instance: Instance) -> None:
    router = instance.app.router
    index = router.middleware_stack
    assert isinstance(index, RouteIndex)
    checked = 0
    for route in router.routes:
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            for path in (sample_path(route.path), sample_path(route.path) + "x"):
                scope = {"type": "http", "method": method, "path": path, "root_path": ""}
                walked = first_full_match(router.routes, scope)
                indexed = first_full_match(index.candidates(path), scope)
                assert indexed is walked, (method, path)
                checked += 1
    assert checked > 200
    # It narrows: a project read looks at a handful of routes, not at all of them.
    assert len(index.candidates("/dip/publicapi/projects/SALES")) < 5 < len(router.routes)


def test_what_the_index_does_not_settle_gets_the_usual_answers(instance: Instance) -> None:
    assert_error(instance.admin.patch("/projects/"), 405)
    assert_error(instance.admin.get("/no/such/route"), 404)
    assert instance.http.get("/healthz").json() == {"status": "ok"}
    assert instance.admin.get("/projects/").status_code == 200
