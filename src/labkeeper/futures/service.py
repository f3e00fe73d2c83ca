"""Future states as the DSS API shows them, listing, and permission to see or abort."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from labkeeper.auth.principal import Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Forbidden, NotFound, TaskFailed
from labkeeper.futures.models import ABORTED, DONE, FAILED, INPUT_REFUSED, RUNNING, Task


def future_state(task: Task, *, with_result: bool = True) -> dict[str, Any]:
    alive = task.state == RUNNING
    state: dict[str, Any] = {
        "jobId": task.id,
        "jobDisplayName": task.display_name or task.kind,
        "alive": alive,
        "aborted": task.state == ABORTED,
        "unknown": False,
        "hasResult": task.state == DONE,
        "startTime": task.started_on,
        "runningTime": (now_ms() if alive else task.ended_on) - task.started_on,
        "progress": task.progress or {"states": []},
        "state": task.state,
        "kind": task.kind,
        "owner": task.owner,
        "target": task.target,
        "isScenario": task.is_scenario,
    }
    if task.state == FAILED:
        state["error"] = task.error
    if task.state == ABORTED:
        state["abortedBy"] = task.aborted_by
    if with_result and task.state == DONE:
        state["result"] = _unwrap(task.result)
    return state


def _unwrap(result: dict[str, Any] | None) -> Any:
    if isinstance(result, dict) and set(result) == {"value"}:
        return result["value"]
    return result


def finished_answer(task: Task) -> dict[str, Any]:
    """The answer of a `wait=true` call: the result, or the task's error as an exception."""
    raise_if_failed(task)
    return {"hasResult": True, "result": _unwrap(task.result), "jobId": task.id}


def raise_if_failed(task: Task) -> None:
    label = task.display_name or task.kind
    if task.state == FAILED:
        if task.error_kind == INPUT_REFUSED:  # the caller's input: as a refusal up front
            raise BadRequest(f"{label} failed: {task.error}")
        raise TaskFailed(f"{label} failed: {task.error}")
    if task.state == ABORTED:
        raise TaskFailed(f"{label} was aborted by {task.aborted_by or 'an unknown user'}")


def _visible(task: Task, principal: Principal) -> bool:
    return principal.admin or task.owner == principal.name


def get_task(store: Store, principal: Principal, task_id: str) -> Task:
    with store.read() as s:
        task = s.get(Task, task_id)
    if task is None:
        raise NotFound(f"No future with id {task_id!r}")
    if not _visible(task, principal):
        raise Forbidden(f"Future {task_id} belongs to another user; only its owner or an admin may see it")
    return task


def get_future(store: Store, principal: Principal, task_id: str, *, peek: bool) -> dict[str, Any]:
    task = get_task(store, principal, task_id)
    if not peek:
        raise_if_failed(task)
    return future_state(task, with_result=not peek)


def list_futures(
    store: Store,
    principal: Principal,
    *,
    all_users: bool,
    with_scenarios: bool,
    with_not_scenarios: bool,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    if all_users:
        principal.require_admin()
    query = select(Task).where(Task.state == RUNNING).order_by(Task.started_on)
    if not all_users:
        query = query.where(Task.owner == principal.name)
    if not with_scenarios:
        query = query.where(Task.is_scenario.is_(False))
    if not with_not_scenarios:
        query = query.where(Task.is_scenario.is_(True))
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.read() as s:
        return [future_state(t, with_result=False) for t in s.scalars(query)]


def list_recent_futures(
    store: Store, principal: Principal, *, all_users: bool, limit: int
) -> list[dict[str, Any]]:
    """Ended futures, newest first: the viewer's own, or every user's for an admin."""
    if all_users:
        principal.require_admin()
    query = select(Task).where(Task.state != RUNNING).order_by(Task.ended_on.desc()).limit(limit)
    if not all_users:
        query = query.where(Task.owner == principal.name)
    with store.read() as s:
        return [future_state(t, with_result=False) for t in s.scalars(query)]
