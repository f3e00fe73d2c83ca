"""Routes: every domain router on one flat list (dispatch in server/dispatch.py)."""

from __future__ import annotations

from fastapi import APIRouter

API_PREFIX = "/dip/publicapi"
ALIAS_PREFIX = "/public/api"


def api_router(*tags: str) -> APIRouter:
    """A domain's router, its paths under the API prefix."""
    return APIRouter(prefix=API_PREFIX, tags=list(tags))


def install(app_router: APIRouter, routers: list[APIRouter]) -> None:
    """Put every route of `routers` straight on `app_router` (no nested level to walk)."""
    for router in routers:
        app_router.routes.extend(router.routes)
