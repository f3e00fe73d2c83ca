"""Wires the task runner into the app: `app.state.runner`."""

from __future__ import annotations

from fastapi import FastAPI

from labkeeper.futures.inprocess import InProcessRunner
from labkeeper.settings.service import get_general_settings


class FuturesComponent:
    async def start(self, app: FastAPI) -> None:
        store = app.state.store

        def retention_hours() -> int:
            return int(get_general_settings(store)["futures"].get("retentionHours", 168))

        app.state.runner = InProcessRunner(store, retention_hours=retention_hours)
        await app.state.runner.start()

    async def stop(self, app: FastAPI) -> None:
        await app.state.runner.stop()


component = FuturesComponent()
