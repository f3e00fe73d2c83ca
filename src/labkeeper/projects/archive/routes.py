"""Project archives: export, import (upload then process) and duplicate."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.responses import StreamingResponse

from labkeeper.projects.archive import service, upload
from labkeeper.projects.bodies import DuplicateRequest
from labkeeper.server.deps import AppConfig, AppStore, Caller
from labkeeper.server.params import OptionalJsonObject
from labkeeper.server.responses import json_response
from labkeeper.server.routing import api_router

router = api_router("project archives")


@router.post(
    "/projects/{key}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The project's archive"}},
)
async def export_project(
    key: str,
    store: AppStore,
    config: AppConfig,
    caller: Caller,
    _options: OptionalJsonObject = None,  # export options: nothing to choose in labkeeper
) -> Response:
    chunks = service.export_stream(store, config.data_dir, caller, key)
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{key}.zip"'},
    )


async def streamed_upload(request: Request) -> Request:
    """The request, for a handler that reads its body as a stream: a route taking this runs
    on the event loop (server/app.py lists it as loop-bound), not in a unit of work."""
    return request


StreamedUpload = Annotated[Request, Depends(streamed_upload)]


@router.post(
    "/projects/import/upload",
    openapi_extra={  # read as a stream by the handler, so declared here rather than as a parameter
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    },
)
async def upload_import(
    request: StreamedUpload, store: AppStore, config: AppConfig, caller: Caller
) -> Response:
    caller.require("mayCreateProjects")
    boundary = upload.boundary_of(request.headers.get("content-type"))
    shared = None if config.is_sqlite else store  # another node may process it
    import_id, raw, archive = await asyncio.to_thread(service.upload_paths, config.data_dir, shared)
    try:
        await upload.receive_to_file(request, raw)
        await asyncio.to_thread(upload.extract_file_part, raw, boundary, archive)
        answer = await asyncio.to_thread(service.accept_upload, caller, import_id, archive, shared)
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    finally:
        raw.unlink(missing_ok=True)
    return json_response(answer)


upload_import.max_body_bytes = upload.MAX_UPLOAD_BYTES  # type: ignore[attr-defined]  # see server/request_path.py


@router.post("/projects/import/{import_id}/process")
async def process_import(
    import_id: str,
    store: AppStore,
    config: AppConfig,
    caller: Caller,
    body: OptionalJsonObject = None,
) -> Response:
    if body is not None:
        body.pop("_", None)  # the official client's placeholder for empty settings
    return json_response(
        service.process(store, config.data_dir, caller, import_id, body, shared=not config.is_sqlite)
    )


@router.post("/projects/{key}/duplicate/")
async def duplicate_project(
    key: str, store: AppStore, config: AppConfig, caller: Caller, body: DuplicateRequest
) -> Response:
    return json_response(service.duplicate(store, config.data_dir, caller, key, body.sent()))
