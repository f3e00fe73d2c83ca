"""Wires SQL notebooks into the app: at start, stops the queries a dead server left running
(after the futures recovery, which fails that server's tasks)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from labkeeper.notebooks.sql.recovery import stop_leftover_runs


class SqlNotebooksComponent:
    async def start(self, app: FastAPI) -> None:
        await asyncio.to_thread(stop_leftover_runs, app.state.store, app.state.databases)

    async def stop(self, app: FastAPI) -> None:
        return None


component = SqlNotebooksComponent()
