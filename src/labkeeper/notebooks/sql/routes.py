"""SQL notebooks: the DSS routes, plus labkeeper's `cells/{cellId}/actions/run` and
`runs/{runId}` (a run with its kept rows)."""

from __future__ import annotations

from asyncio import to_thread
from typing import Annotated

from fastapi import Request, Response
from sqlalchemy import select

from labkeeper.db import Store
from labkeeper.futures.models import RUNNING, Task
from labkeeper.futures.runner import TaskRunner
from labkeeper.futures.service import finished_answer, future_state, get_task
from labkeeper.notebooks.sql import runs, service
from labkeeper.notebooks.sql.bodies import ClearHistory
from labkeeper.server.answers import settled
from labkeeper.server.deps import AppStore, Caller, Runner
from labkeeper.server.params import DSSBool, JsonObject, flag
from labkeeper.server.responses import OnLoop, empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("sql-notebooks")
WAIT_SLICE = 0.05


async def _finished(runner: TaskRunner, store: Store, job_id: str) -> None:
    """Wait for the run's future. The runner wakes waiters of its own event loop at once;
    a request served on another loop (an in-process test client) sees the end through the
    store instead, checked every WAIT_SLICE seconds."""
    while not await runner.wait(job_id, timeout=WAIT_SLICE):
        if await to_thread(_state_of, store, job_id) != RUNNING:
            return


def _state_of(store: Store, job_id: str) -> str | None:
    with store.read() as s:
        return s.scalar(select(Task.state).where(Task.id == job_id))


BASE = "/projects/{key}/sql-notebooks"


@router.get(BASE + "/")
async def list_sql_notebooks(key: str, store: AppStore, caller: Caller) -> Response:
    return json_response(service.list_notebooks(store, caller, key))


@router.post(BASE + "/")
async def create_sql_notebook(key: str, store: AppStore, caller: Caller, body: JsonObject) -> Response:
    return json_response(service.create_notebook(store, caller, key, body))


@router.get(BASE + "/{notebook_id}")
async def get_sql_notebook(key: str, notebook_id: str, store: AppStore, caller: Caller) -> Response:
    return json_response(service.get_notebook(store, caller, key, notebook_id))


@router.put(BASE + "/{notebook_id}")
async def save_sql_notebook(
    key: str, notebook_id: str, store: AppStore, caller: Caller, body: JsonObject
) -> Response:
    return json_response(service.save_notebook(store, caller, key, notebook_id, body))


@router.delete(BASE + "/{notebook_id}")
async def delete_sql_notebook(
    key: str, notebook_id: str, store: AppStore, caller: Caller, runner: Runner
) -> Response:
    stops = [
        runner.request_abort(job_id, by=caller.name)
        for job_id in service.delete_notebook(store, caller, key, notebook_id)
    ]
    answer = json_response({"projectKey": key, "id": notebook_id, "deleted": True})

    async def runs_stopped() -> Response:
        for stop in stops:
            if stop is not None:
                await stop()
        return answer

    return OnLoop(runs_stopped)


@router.get(BASE + "/{notebook_id}/history")
async def get_history(key: str, notebook_id: str, store: AppStore, caller: Caller) -> Response:
    return json_response(service.get_history(store, caller, key, notebook_id))


@router.put(BASE + "/{notebook_id}/history", status_code=204)
async def save_history(
    key: str, notebook_id: str, store: AppStore, caller: Caller, body: JsonObject
) -> Response:
    service.save_history(store, caller, key, notebook_id, body)
    return empty_response()


@router.post(BASE + "/{notebook_id}/history/clear", status_code=204)
async def clear_history(
    key: str, notebook_id: str, store: AppStore, caller: Caller, body: ClearHistory | None = None
) -> Response:
    service.clear_history(store, caller, key, notebook_id, body.sent() if body is not None else None)
    return empty_response()


@router.get(BASE + "/{notebook_id}/runs/{run_id}")
async def get_run(key: str, notebook_id: str, run_id: str, store: AppStore, caller: Caller) -> Response:
    run = service.get_run(store, caller, key, notebook_id, run_id)
    return settled(json_response(run), run["state"] != "RUNNING")


@router.post(BASE + "/{notebook_id}/cells/{cell_id}/actions/run")
async def run_cell(
    key: str,
    notebook_id: str,
    cell_id: str,
    store: AppStore,
    caller: Caller,
    runner: Runner,
    request: Request,
    wait: Annotated[DSSBool, flag("wait", "Answer once the run is done, with its result")] = False,
) -> Response:
    job_id = runs.start_run(store, runner, request.app.state.databases, caller, key, notebook_id, cell_id)
    if not wait:
        return json_response(future_state(get_task(store, caller, job_id)))

    async def result() -> Response:
        await _finished(runner, store, job_id)
        return json_response(finished_answer(await to_thread(get_task, store, caller, job_id)))

    return OnLoop(result)
