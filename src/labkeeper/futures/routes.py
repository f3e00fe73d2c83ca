"""GET /futures/, GET /futures/{id}, DELETE /futures/{id} (abort)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from labkeeper.futures import service
from labkeeper.futures.models import RUNNING
from labkeeper.server.answers import settled
from labkeeper.server.deps import AppStore, Caller, Page, Runner
from labkeeper.server.params import DSSBool, flag
from labkeeper.server.responses import OnLoop, empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("futures")


@router.get("/futures/")
async def list_futures(
    store: AppStore,
    caller: Caller,
    paging: Page,
    all_users: Annotated[DSSBool, flag("allUsers", "Every user's futures (admins)")] = False,
    with_scenarios: Annotated[DSSBool, flag("withScenarios", "Scenario runs too")] = True,
    with_not_scenarios: Annotated[DSSBool, flag("withNotScenarios", "Other futures too")] = True,
) -> Response:
    states = service.list_futures(
        store,
        caller,
        all_users=all_users,
        with_scenarios=with_scenarios,
        with_not_scenarios=with_not_scenarios,
        limit=paging.limit,
        offset=paging.offset,
    )
    return settled(json_response(states), not any(state["alive"] for state in states))


@router.get("/futures/{job_id}")
async def get_future(
    job_id: str,
    store: AppStore,
    caller: Caller,
    peek: Annotated[DSSBool, flag("peek", "The state only: a failed future is not an error")] = False,
) -> Response:
    state = service.get_future(store, caller, job_id, peek=peek)
    return settled(json_response(state), not state["alive"])


@router.delete("/futures/{job_id}", status_code=204)
async def abort_future(job_id: str, store: AppStore, caller: Caller, runner: Runner) -> Response:
    """The abort is recorded with the request's audit row; its work is stopped before the
    answer leaves (within a second, on whichever node runs it)."""
    task = service.get_task(store, caller, job_id)
    stop = runner.request_abort(job_id, by=caller.name) if task.state == RUNNING else None
    if stop is None:
        return empty_response()

    async def stopped() -> Response:
        await stop()
        return empty_response()

    return OnLoop(stopped, status_code=204)
