"""Project routes: list, create, summary, delete, and the project documents."""

from __future__ import annotations

from fastapi import Request, Response

from labkeeper.projects import object_routes, service, tags
from labkeeper.server.deps import AppConfig, AppStore, Caller, Page, stamps_read_for
from labkeeper.server.params import parse_bool
from labkeeper.server.responses import empty_response, json_response, read_json
from labkeeper.server.routing import api_router

router = api_router("projects")


@router.get("/projects/")
async def list_projects(store: AppStore, principal: Caller, page: Page, request: Request) -> Response:
    query = request.query_params if request.scope["query_string"] else {}  # most lists ask nothing
    include_location = parse_bool("includeLocation", query.get("includeLocation"))
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
async def create_project(request: Request, store: AppStore, principal: Caller) -> Response:
    body = await read_json(request)
    folder = request.query_params.get("projectFolderId")
    return json_response(service.create_project(store, principal=principal, body=body, folder_id=folder))


@router.get("/projects/{key}")
async def get_project_summary(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_summary(store, principal=principal, key=key))


@router.delete("/projects/{key}")
async def delete_project(
    key: str, request: Request, store: AppStore, config: AppConfig, principal: Caller
) -> Response:
    q = request.query_params
    # The clear* options name data labkeeper does not keep apart from the project folder,
    # which is always removed; they are validated so a typo is reported.
    for option in (
        "clearManagedDatasets",
        "clearOutputManagedFolders",
        "clearJobAndScenarioLogs",
        "clearManagedKnowledgeBanks",
        "wait",
    ):
        parse_bool(option, q.get(option))
    return json_response(
        service.delete_project(store, principal=principal, key=key, data_dir=config.data_dir)
    )


@router.get("/projects/{key}/metadata")
async def get_metadata(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_metadata(store, principal=principal, key=key))


@router.put("/projects/{key}/metadata")
async def put_metadata(key: str, request: Request, store: AppStore, principal: Caller) -> Response:
    body = await read_json(request)
    service.put_metadata(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/settings")
async def get_settings(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_settings(store, principal=principal, key=key))


@router.put("/projects/{key}/settings")
async def put_settings(key: str, request: Request, store: AppStore, principal: Caller) -> Response:
    body = await read_json(request)
    service.put_settings(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/permissions")
async def get_permissions(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_permissions(store, principal=principal, key=key))


@router.put("/projects/{key}/permissions")
async def put_permissions(key: str, request: Request, store: AppStore, principal: Caller) -> Response:
    body = await read_json(request)
    service.put_permissions(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/variables/")
async def get_variables(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(service.get_variables(store, principal=principal, key=key))


@router.put("/projects/{key}/variables/")
async def put_variables(key: str, request: Request, store: AppStore, principal: Caller) -> Response:
    body = await read_json(request)
    service.put_variables(store, principal=principal, key=key, body=body)
    return empty_response()


@router.get("/projects/{key}/variables-resolved")
async def get_resolved_variables(key: str, request: Request, store: AppStore, principal: Caller) -> Response:
    typed = parse_bool("typed", request.query_params.get("typed"))
    return json_response(service.get_resolved_variables(store, principal=principal, key=key, typed=typed))


@router.get("/projects/{key}/tags")
async def get_tags(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(tags.get_tags(store, principal=principal, key=key))


@router.put("/projects/{key}/tags")
async def put_tags(key: str, request: Request, store: AppStore, principal: Caller) -> Response:
    tags.put_tags(store, principal=principal, key=key, body=await read_json(request))
    return empty_response()


router.routes.extend(object_routes.router.routes)  # one flat list (see server/routing.py)
