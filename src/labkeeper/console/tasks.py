"""Tasks: running and recent futures with progress, and aborting one, as GET and DELETE
/futures/ do (futures/service.py decides what the viewer sees)."""

from __future__ import annotations

from typing import Any

from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.futures import service
from labkeeper.futures.models import RUNNING
from labkeeper.futures.runner import TaskRunner

RECENT = 50


def progress_percent(progress: dict[str, Any]) -> int | None:
    """The innermost progress state as a percentage, when it says how far it is."""
    states = (progress or {}).get("states") or []
    for state in reversed(states):
        target, done = state.get("target"), state.get("cur")
        if isinstance(target, int | float) and target > 0 and isinstance(done, int | float):
            return max(0, min(100, int(100 * done / target)))
    return None


def listing(store: Store, principal: Principal) -> dict[str, list[dict[str, Any]]]:
    running = service.list_futures(
        store, principal, all_users=principal.admin, with_scenarios=True, with_not_scenarios=True
    )
    recent = service.list_recent_futures(store, principal, all_users=principal.admin, limit=RECENT)
    for state in (*running, *recent):
        state["percent"] = progress_percent(state.get("progress") or {})
    return {"running": running, "recent": recent}


async def abort(store: Store, runner: TaskRunner, principal: Principal, job_id: str) -> None:
    task = service.get_task(store, principal, job_id)
    if task.state == RUNNING:
        await runner.abort(job_id, by=principal.name)
