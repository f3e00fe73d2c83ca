"""One request path: the route table picks, for every request, the very route FastAPI's
own walk would, and every route is answered by the same compiled dispatch."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Match

from labkeeper.server.dispatch import RouteTable
from tests.conftest import Instance
from tests.helpers import assert_error

# The one place where a route may be answered otherwise than by its compiled plan
# (server/dispatch.py), and why. Nothing else may join it without a reason written here.
ANSWERED_BY_FASTAPI = {
    "GET,HEAD /openapi.json": "FastAPI's own document route; not an API route, not authenticated",
}


def sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", path)


def first_full_match(routes: list, scope: dict):  # type: ignore[no-untyped-def]
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def test_the_table_agrees_with_the_full_walk_on_every_route(instance: Instance) -> None:
    router = instance.app.router
    table = instance.app.request_path.table
    assert isinstance(table, RouteTable) and table.indexed
    checked = 0
    filed = {id(entry.route) for entry in table.entries}
    for route in router.routes:
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            for path in (sample_path(route.path), sample_path(route.path) + "x", route.path + "/"):
                scope = {"type": "http", "method": method, "path": path, "root_path": ""}
                walked = first_full_match(router.routes, scope)
                found = table.match(method, path)
                if found is None and walked is not None and id(walked) not in filed:
                    continue  # a route added after the table (the console's): FastAPI's walk answers it
                assert (found[0].route if found else None) is walked, (method, path)
                checked += 1
    assert checked > 300
    # It narrows: a project read looks at a handful of routes, not at all of them.
    assert len(table.candidates("/dip/publicapi/projects/SALES")) < 5 < len(router.routes)


def test_every_get_route_takes_the_one_compiled_path(instance: Instance) -> None:
    """No per-route lane: every API route, GET or not, has a compiled plan, except the ones
    listed (with their reason) in ANSWERED_BY_FASTAPI."""
    assert set(instance.app.state.uncompiled_routes) == set(ANSWERED_BY_FASTAPI)
    entries = instance.app.request_path.table.entries
    gets = [e for e in entries if isinstance(e.route, APIRoute) and "GET" in e.methods]
    assert len(gets) > 50
    assert all(e.invoker is not None for e in entries if isinstance(e.route, APIRoute))


def test_what_the_table_does_not_settle_gets_the_usual_answers(instance: Instance) -> None:
    assert_error(instance.admin.patch("/projects/"), 405)
    assert_error(instance.admin.get("/no/such/route"), 404)
    assert instance.http.get("/healthz").json() == {"status": "ok"}
    assert instance.admin.get("/projects/").status_code == 200
    assert instance.http.get("/openapi.json").json()["info"]["title"] == "labkeeper"


def test_a_missing_query_parameter_is_a_400_after_the_key_check(instance: Instance) -> None:
    assert_error(instance.client(None).get("/admin/impersonation/resolve"), 401)
    assert_error(instance.admin.get("/admin/impersonation/resolve"), 400, "user")
