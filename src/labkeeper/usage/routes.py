"""The usage report of the instance (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from labkeeper.server.answers import settled
from labkeeper.server.deps import Admin, AppStore
from labkeeper.server.params import DSSBool, flag
from labkeeper.server.responses import json_response
from labkeeper.server.routing import api_router
from labkeeper.usage import service

router = api_router("usage")


@router.get("/admin/monitoring/global-usage-summary")
async def global_usage_summary(
    store: AppStore,
    _admin: Admin,
    with_per_project: Annotated[DSSBool, flag("withPerProject", "Figures per project too")] = False,
) -> Response:
    summary, stamp = service.global_usage_summary(store, with_per_project=with_per_project)
    return settled(json_response(summary), file_stamp=stamp)
