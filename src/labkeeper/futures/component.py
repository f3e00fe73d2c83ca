"""Wires the task runner into the app: `app.state.runner`, chosen by configuration
(`Config.effective_task_runner`: in-process on SQLite, procrastinate on PostgreSQL)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from labkeeper.futures import retire
from labkeeper.futures.inprocess import InProcessRunner
from labkeeper.settings.service import get_general_settings


class FuturesComponent:
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
        await app.state.runner.start()
        retire.install(store, app.state.runner, asyncio.get_running_loop())

    async def stop(self, app: FastAPI) -> None:
        retire.uninstall(app.state.store)
        await app.state.runner.stop()


component = FuturesComponent()
