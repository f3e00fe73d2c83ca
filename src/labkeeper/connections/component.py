"""Wires connections into the app: `app.state.databases` (engines, found again by the
SQL operations), and the SQLite connection a fresh instance starts with."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from labkeeper.connections import secrets
from labkeeper.connections.engines import Databases
from labkeeper.connections.service import ensure_default_connection


class ConnectionsComponent:
    async def start(self, app: FastAPI) -> None:
        store, config = app.state.store, app.state.config
        data_dir = config.data_dir
        secrets.configure(data_dir, secrets.configured_keys(config.secret_key, config.secret_key_file))
        await asyncio.to_thread(ensure_default_connection, store, data_dir)
        app.state.databases = Databases(store, data_dir)
        app.state.databases.register()

    async def stop(self, app: FastAPI) -> None:
        databases = getattr(app.state, "databases", None)
        if databases is not None:
            await asyncio.to_thread(databases.close)


component = ConnectionsComponent()
