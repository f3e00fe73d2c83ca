"""Project routes: list, create, summary, delete, and the project documents."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from labkeeper.projects import object_routes, service, tags
from labkeeper.projects.bodies import ProjectCreate, TagsDocument
from labkeeper.server.deps import AppConfig, AppStore, Caller, Page, stamps_read_for
from labkeeper.server.params import DSSBool, JsonObject, flag
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("projects")


@router.get("/projects/")
async def list_projects(
    store: AppStore,
    principal: Caller,
    page: Page,
    request: Request,
    include_location: Annotated[DSSBool, flag("includeLocation", "Each project's folder too")] = False,
) -> Response:
    body = service.render_project_list(
        store,
        principal,
        include_location=include_location,
        stamps=stamps_read_for(request),
        limit=page.limit,
        offset=page.offset,
    )
    return Response(body, media_type="application/json")


@router.post("/projects/")
async def create_project(
    store: AppStore,
    principal: Caller,
    body: ProjectCreate,
    folder: Annotated[str | None, Query(alias="projectFolderId", description="Accepted, not used")] = None,
) -> Response:
    return json_response(
        service.create_project(store, principal=principal, body=body.sent(), folder_id=folder)
    )


@router.get("/projects/{key}")
async def get_project_summary(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_summary(store, principal=principal, key=key))


@router.delete("/projects/{key}")
async def delete_project(
    key: str,
    store: AppStore,
    config: AppConfig,
    principal: Caller,
    # The clear* options name data labkeeper does not keep apart from the project folder,
    # which is always removed; they are declared so that a wrong value is reported.
    _datasets: Annotated[DSSBool, flag("clearManagedDatasets", "Always: the folder is removed")] = False,
    _folders: Annotated[DSSBool, flag("clearOutputManagedFolders", "Always")] = False,
    _logs: Annotated[DSSBool, flag("clearJobAndScenarioLogs", "Always")] = False,
    _banks: Annotated[DSSBool, flag("clearManagedKnowledgeBanks", "Always")] = False,
    _wait: Annotated[DSSBool, flag("wait", "The deletion is always done when answered")] = False,
) -> Response:
    return json_response(
        service.delete_project(store, principal=principal, key=key, data_dir=config.data_dir)
    )


@router.get("/projects/{key}/metadata")
async def get_metadata(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_metadata(store, principal=principal, key=key))


@router.put("/projects/{key}/metadata", status_code=204)
async def put_metadata(key: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    service.put_metadata(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/settings")
async def get_settings(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_settings(store, principal=principal, key=key))


@router.put("/projects/{key}/settings", status_code=204)
async def put_settings(key: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    service.put_settings(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/permissions")
async def get_permissions(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_permissions(store, principal=principal, key=key))


@router.put("/projects/{key}/permissions", status_code=204)
async def put_permissions(key: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    service.put_permissions(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/variables/")
async def get_variables(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_variables(store, principal=principal, key=key))


@router.put("/projects/{key}/variables/", status_code=204)
async def put_variables(key: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    service.put_variables(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/variables-resolved")
async def get_resolved_variables(
    key: str,
    store: AppStore,
    principal: Caller,
    typed: Annotated[DSSBool, flag("typed", "Values with their JSON types kept")] = False,
) -> Response:
    return json_response(service.get_resolved_variables(store, principal=principal, key=key, typed=typed))


@router.get("/projects/{key}/tags")
async def get_tags(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(tags.get_tags(store, principal=principal, key=key))


@router.put("/projects/{key}/tags", status_code=204)
async def put_tags(key: str, store: AppStore, principal: Caller, body: TagsDocument) -> Response:
    tags.put_tags(store, principal=principal, key=key, body=body.sent())
    return empty_response()


router.routes.extend(object_routes.router.routes)  # one flat list (see server/routing.py)
