"""Project archives: export, import (upload then process) and duplicate."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from labkeeper.projects.archive import service
from labkeeper.server.deps import AppConfig, AppStore, Caller
from labkeeper.server.responses import json_response, read_json
from labkeeper.server.routing import api_router

router = api_router("project archives")


@router.post("/projects/{key}/export")
async def export_project(
    key: str, request: Request, store: AppStore, config: AppConfig, caller: Caller
) -> Response:
    await read_json(request, required=False)  # export options: nothing to choose in labkeeper
    chunks = service.export_stream(store, config.data_dir, caller, key)
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{key}.zip"'},
    )


@router.post("/projects/import/upload")
async def upload_import(request: Request, config: AppConfig, caller: Caller) -> Response:
    archive = service.file_from_multipart(request.headers.get("content-type"), await request.body())
    return json_response(service.upload(config.data_dir, caller, archive))


@router.post("/projects/import/{import_id}/process")
async def process_import(
    import_id: str, request: Request, store: AppStore, config: AppConfig, caller: Caller
) -> Response:
    body = await read_json(request, required=False)
    if isinstance(body, dict):
        body.pop("_", None)  # the official client's placeholder for empty settings
    return json_response(service.process(store, config.data_dir, caller, import_id, body))


@router.post("/projects/{key}/duplicate/")
async def duplicate_project(
    key: str, request: Request, store: AppStore, config: AppConfig, caller: Caller
) -> Response:
    body = await read_json(request)
    return json_response(service.duplicate(store, config.data_dir, caller, key, body))
