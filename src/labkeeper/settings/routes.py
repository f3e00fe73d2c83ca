"""General settings, instance variables and the impersonation resolver."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Query, Request, Response

from labkeeper.auth.service import groups_of
from labkeeper.projects.access import ensure_project_exists
from labkeeper.server.deps import Admin, AppStore, stamps_read_for
from labkeeper.server.params import JsonObject
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router
from labkeeper.settings import service
from labkeeper.settings.impersonation import resolve
from labkeeper.settings.schemas import GeneralSettings

router = api_router("settings")


@router.get("/admin/general-settings")
async def get_general_settings(store: AppStore, _admin: Admin, request: Request) -> Response:
    body = service.general_settings_json(store, stamps_read_for(request))
    return Response(body, media_type="application/json")


@router.put("/admin/general-settings", status_code=204)
async def put_general_settings(store: AppStore, _admin: Admin, body: GeneralSettings) -> Response:
    service.put_general_settings(store, body.sent())
    return empty_response()


@router.get("/admin/variables/")
async def get_instance_variables(store: AppStore, _admin: Admin) -> Response:
    return json_response(service.get_instance_variables(store))


@router.put("/admin/variables/", status_code=204)
async def put_instance_variables(store: AppStore, _admin: Admin, body: JsonObject) -> Response:
    service.put_instance_variables(store, body)
    return empty_response()


@router.get("/admin/impersonation/resolve")
async def resolve_impersonation(
    store: AppStore,
    _admin: Admin,
    user: Annotated[str, Query(description="The labkeeper user to resolve")],
    project_key: Annotated[str | None, Query(alias="projectKey", description="For PROJECT rules")] = None,
) -> Response:
    groups = groups_of(store, user)
    if project_key:
        ensure_project_exists(store, project_key)
    settings = service.get_general_settings(store)
    # Off the event loop: even bounded, a slow rule must not stall other requests.
    resolution = await asyncio.to_thread(
        resolve, settings["impersonation"], login=user, groups=groups, project_key=project_key
    )
    return json_response(resolution.as_json(user, project_key))
