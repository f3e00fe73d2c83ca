"""GET /futures/, GET /futures/{id}, DELETE /futures/{id} (abort)."""

from __future__ import annotations

from fastapi import Request, Response

from labkeeper.futures import service
from labkeeper.futures.models import RUNNING
from labkeeper.server.answers import settled
from labkeeper.server.deps import AppStore, Caller, Page, Runner
from labkeeper.server.params import parse_bool
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("futures")


@router.get("/futures/")
async def list_futures(store: AppStore, caller: Caller, paging: Page, request: Request) -> Response:
    q = request.query_params
    states = service.list_futures(
        store,
        caller,
        all_users=parse_bool("allUsers", q.get("allUsers")),
        with_scenarios=parse_bool("withScenarios", q.get("withScenarios"), default=True),
        with_not_scenarios=parse_bool("withNotScenarios", q.get("withNotScenarios"), default=True),
        limit=paging.limit,
        offset=paging.offset,
    )
    return settled(json_response(states), not any(state["alive"] for state in states))


@router.get("/futures/{job_id}")
async def get_future(job_id: str, store: AppStore, caller: Caller, request: Request) -> Response:
    peek = parse_bool("peek", request.query_params.get("peek"))
    state = service.get_future(store, caller, job_id, peek=peek)
    return settled(json_response(state), not state["alive"])


@router.delete("/futures/{job_id}")
async def abort_future(job_id: str, store: AppStore, caller: Caller, runner: Runner) -> Response:
    task = service.get_task(store, caller, job_id)
    if task.state == RUNNING:
        await runner.abort(job_id, by=caller.name)
    return empty_response()
