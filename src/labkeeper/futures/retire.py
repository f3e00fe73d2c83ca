"""Abort every running task of a user who was disabled or deleted (auth/retirement.py)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from labkeeper.auth.retirement import register_stopper, unregister_stopper, wait_on_loop
from labkeeper.db import Store
from labkeeper.futures.models import RUNNING, Task
from labkeeper.futures.runner import TaskRunner

STOPPER = "tasks"
ABORT_TIMEOUT = 30.0


async def abort_tasks_of(store: Store, runner: TaskRunner, login: str, *, by: str) -> list[str]:
    """Abort every running task `login` owns, on any worker (see TaskRunner.abort); their ids."""
    with store.read() as s:
        task_ids = list(s.scalars(select(Task.id).where(Task.owner == login, Task.state == RUNNING)))
    for task_id in task_ids:
        await runner.abort(task_id, by=by)
    return task_ids


def install(store: Store, runner: TaskRunner, loop: asyncio.AbstractEventLoop) -> None:
    def stop(login: str, reason: str, by: str) -> list[str]:
        coroutine = abort_tasks_of(store, runner, login, by=f"{by} ({reason})"[:100])
        return wait_on_loop(loop, coroutine, ABORT_TIMEOUT) or []

    register_stopper(store, STOPPER, stop)


def uninstall(store: Store) -> None:
    unregister_stopper(store, STOPPER)
