"""GET /admin/audit and GET /admin/audit/unaudited (labkeeper additions), and
POST /admin/audit/custom/{type}."""

from __future__ import annotations

from fastapi import Request, Response

from labkeeper.audit.service import list_events, record_event
from labkeeper.names import check_name
from labkeeper.server.deps import Admin, AppStore, Page
from labkeeper.server.params import parse_int
from labkeeper.server.responses import empty_response, json_response, read_json
from labkeeper.server.routing import api_router

router = api_router("audit")


@router.get("/admin/audit")
async def get_audit(store: AppStore, _admin: Admin, paging: Page, request: Request) -> Response:
    since = parse_int("since", request.query_params.get("since"))
    return json_response(list_events(store, since=since, limit=paging.limit, offset=paging.offset))


@router.get("/admin/audit/unaudited")
async def get_unaudited(_admin: Admin, request: Request) -> Response:
    """State-changing requests this worker did not audit: no valid key, or no such route."""
    return json_response(request.app.state.unaudited.as_json())


@router.post("/admin/audit/custom/{custom_type}")
async def post_custom_event(custom_type: str, store: AppStore, caller: Admin, request: Request) -> Response:
    check_name("custom audit event type", custom_type)
    details = await read_json(request, required=False) or {}
    record_event(
        store,
        user=caller.audit_name,
        api_key_id=caller.key_id,
        action=f"custom:{custom_type}",
        details=details,
    )
    return empty_response()
