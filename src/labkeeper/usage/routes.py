"""The usage report of the instance (admin only)."""

from __future__ import annotations

from fastapi import Request, Response

from labkeeper.server.answers import settled
from labkeeper.server.deps import Admin, AppStore
from labkeeper.server.params import parse_bool
from labkeeper.server.responses import json_response
from labkeeper.server.routing import api_router
from labkeeper.usage import service

router = api_router("usage")


@router.get("/admin/monitoring/global-usage-summary")
async def global_usage_summary(request: Request, store: AppStore, _admin: Admin) -> Response:
    with_per_project = parse_bool("withPerProject", request.query_params.get("withPerProject"))
    summary, stamp = service.global_usage_summary(store, with_per_project=with_per_project)
    return settled(json_response(summary), file_stamp=stamp)
