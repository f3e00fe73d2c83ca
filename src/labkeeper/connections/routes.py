"""Connections: the admin registry (`/admin/connections/`) and what users of a connection
may ask (`/connections/get-names`, `/connections/{name}/info`, `/connections/{name}/test`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Query, Request, Response

from labkeeper.connections import service
from labkeeper.connections.bodies import ConnectionBody
from labkeeper.connections.query import Canceller, QueryFailed, run_query
from labkeeper.server.deps import Admin, AppConfig, AppStore, Caller
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("connections")


@router.get("/admin/connections/")
async def list_connections(store: AppStore, _admin: Admin) -> Response:
    return json_response(service.list_connections(store))


@router.post("/admin/connections/")
async def create_connection(
    store: AppStore, config: AppConfig, admin: Admin, body: ConnectionBody
) -> Response:
    return json_response(service.create_connection(store, config.data_dir, admin, body.sent()))


@router.get("/admin/connections/{name}")
async def get_connection(name: str, store: AppStore, _admin: Admin) -> Response:
    return json_response(service.get_connection(store, name))


@router.put("/admin/connections/{name}")
async def update_connection(
    name: str, store: AppStore, config: AppConfig, admin: Admin, body: ConnectionBody
) -> Response:
    return json_response(service.update_connection(store, config.data_dir, admin, name, body.sent()))


@router.delete("/admin/connections/{name}", status_code=204)
async def delete_connection(name: str, store: AppStore, _admin: Admin) -> Response:
    service.delete_connection(store, name)
    return empty_response()


@router.get("/connections/get-names")
async def connection_names(
    store: AppStore,
    caller: Caller,
    kind: Annotated[str | None, Query(alias="type", description="Only connections of this type")] = None,
) -> Response:
    return json_response(service.connection_names(store, caller, kind))


@router.get("/connections/{name}/info")
async def connection_info(name: str, store: AppStore, caller: Caller) -> Response:
    return json_response(service.connection_info(store, caller, name))


@router.get("/connections/{name}/test")
async def test_connection(name: str, store: AppStore, caller: Caller, request: Request) -> Response:
    service.require_usable(store, caller, name)
    databases = request.app.state.databases
    spec = databases.spec(name)

    def probe() -> dict[str, object]:
        try:
            run_query(
                databases.engine_for(spec),
                spec.type,
                "SELECT 1",
                max_rows=1,
                canceller=Canceller(),
                password=spec.password,
            )
        except QueryFailed as exc:
            return {"connectionOK": False, "errorMessage": str(exc)}
        return {"connectionOK": True}

    return json_response({"name": name, "type": spec.type, **await asyncio.to_thread(probe)})
