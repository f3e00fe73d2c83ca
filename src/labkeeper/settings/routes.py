"""General settings, instance variables and the impersonation resolver."""

from __future__ import annotations

import asyncio

from fastapi import Request, Response

from labkeeper.auth.service import groups_of
from labkeeper.projects.access import ensure_project_exists
from labkeeper.server.deps import Admin, AppStore, stamps_read_for
from labkeeper.server.responses import empty_response, json_response, read_json
from labkeeper.server.routing import api_router
from labkeeper.settings import service
from labkeeper.settings.impersonation import resolve

router = api_router("settings")


@router.get("/admin/general-settings")
async def get_general_settings(store: AppStore, _admin: Admin, request: Request) -> Response:
    body = service.general_settings_json(store, stamps_read_for(request))
    return Response(body, media_type="application/json")


@router.put("/admin/general-settings")
async def put_general_settings(store: AppStore, _admin: Admin, request: Request) -> Response:
    service.put_general_settings(store, await read_json(request))
    return empty_response()


@router.get("/admin/variables/")
async def get_instance_variables(store: AppStore, _admin: Admin) -> Response:
    return json_response(service.get_instance_variables(store))


@router.put("/admin/variables/")
async def put_instance_variables(store: AppStore, _admin: Admin, request: Request) -> Response:
    service.put_instance_variables(store, await read_json(request, expect=object))
    return empty_response()


@router.get("/admin/impersonation/resolve")
async def resolve_impersonation(
    store: AppStore, _admin: Admin, user: str, projectKey: str | None = None
) -> Response:  # noqa: N803
    groups = groups_of(store, user)
    if projectKey:
        ensure_project_exists(store, projectKey)
    settings = service.get_general_settings(store)
    # Off the event loop: even bounded, a slow rule must not stall other requests.
    resolution = await asyncio.to_thread(
        resolve, settings["impersonation"], login=user, groups=groups, project_key=projectKey
    )
    return json_response(resolution.as_json(user, projectKey))
