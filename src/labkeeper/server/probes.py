"""Routes for operators, outside the DSS API: liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from labkeeper.server.deps import current_principal
from labkeeper.server.responses import json_response

router = APIRouter(include_in_schema=False)
METRICS_PERMISSION = "mayReadMetrics"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz")
async def healthz() -> Response:
    """Liveness: the process answers (whatever the store's state)."""
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Readiness: the store answers a read now; 503 with Retry-After while it does not."""
    await request.app.state.store.request_stamps()  # StoreUnavailable -> 503 (server/errors.py)
    return json_response({"status": "ready"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text (server/metrics.py); an admin key or `mayReadMetrics`, unless public."""
    app = request.app
    if not app.state.config.metrics_public:
        principal = await current_principal(request)
        principal.require(METRICS_PERMISSION)
    body = await asyncio.to_thread(app.state.metrics.scrape)  # reads the store and /proc
    return Response(body, media_type=PROMETHEUS_TEXT)
