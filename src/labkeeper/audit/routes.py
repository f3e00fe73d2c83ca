"""GET /admin/audit and GET /admin/audit/unaudited (labkeeper additions), and
POST /admin/audit/custom/{type}."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from labkeeper.audit.service import list_events, record_event
from labkeeper.names import check_name
from labkeeper.server.deps import Admin, AppStore, Page
from labkeeper.server.params import Count, OptionalJsonObject
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("audit")


@router.get("/admin/audit")
async def get_audit(
    store: AppStore,
    _admin: Admin,
    paging: Page,
    since: Annotated[Count, Query(description="Only events after this one (its id)")] = None,
) -> Response:
    return json_response(list_events(store, since=since, limit=paging.limit, offset=paging.offset))


@router.get("/admin/audit/unaudited")
async def get_unaudited(_admin: Admin, request: Request) -> Response:
    """State-changing requests this worker did not audit: no valid key, or no such route."""
    return json_response(request.app.state.unaudited.as_json())


@router.post("/admin/audit/custom/{custom_type}", status_code=204)
async def post_custom_event(
    custom_type: str, store: AppStore, caller: Admin, details: OptionalJsonObject = None
) -> Response:
    check_name("custom audit event type", custom_type)
    record_event(
        store,
        user=caller.audit_name,
        api_key_id=caller.key_id,
        action=f"custom:{custom_type}",
        details=details or {},
    )
    return empty_response()
