"""Wires the task runner into the app: `app.state.runner`, chosen by configuration
(`Config.effective_task_runner`: in-process on SQLite, procrastinate on PostgreSQL). The
node jobs of later components are registered before the runner starts (`before_taking_jobs`):
a worker that listened first would fail the jobs it picked before their handler existed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import FastAPI

from labkeeper.futures import retire
from labkeeper.futures.inprocess import InProcessRunner
from labkeeper.futures.runner import TaskRunner
from labkeeper.settings.service import get_general_settings


class FuturesComponent:
    def __init__(self) -> None:
        self._node_jobs: list[Callable[[FastAPI, TaskRunner], None]] = []

    def before_taking_jobs(self, attach: Callable[[FastAPI, TaskRunner], None]) -> None:
        """Have `attach(app, runner)` register node jobs (`TaskRunner.node_job`) once the runner
        is made and before it starts: a worker takes no job before it can run every kind."""
        self._node_jobs.append(attach)

    async def start(self, app: FastAPI) -> None:
        store = app.state.store

        def retention_hours() -> int:
            return int(get_general_settings(store)["futures"].get("retentionHours", 168))

        config = app.state.config
        if config.effective_task_runner == "procrastinate":
            from labkeeper.futures.queued import ProcrastinateRunner

            app.state.runner = ProcrastinateRunner(
                store,
                config.effective_database_url,
                node=config.effective_node_name,
                execute=config.embedded_worker or not config.serves_api,
                slots=config.task_slots,
                retention_hours=retention_hours,
                data_dir=config.data_dir,
            )
        else:
            app.state.runner = InProcessRunner(
                store, retention_hours=retention_hours, data_dir=config.data_dir
            )
        for attach in self._node_jobs:
            attach(app, app.state.runner)
        await app.state.runner.start()
        retire.install(store, app.state.runner, asyncio.get_running_loop())

    async def stop(self, app: FastAPI) -> None:
        retire.uninstall(app.state.store)
        await app.state.runner.stop()


component = FuturesComponent()
