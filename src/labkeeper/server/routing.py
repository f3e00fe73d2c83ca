"""Routes: every domain router on one flat list (dispatch in server/dispatch.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

API_PREFIX = "/dip/publicapi"
ALIAS_PREFIX = "/public/api"


class DSSError(BaseModel):
    """The body of every error answer, as DSS writes it."""

    errorType: str
    message: str
    detailedMessage: str


def _error(description: str) -> dict[str, Any]:
    return {"model": DSSError, "description": description}


# The refusals any API route may answer (server/errors.py maps each domain error to one).
DSS_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid request: a parameter or body field does not fit (the message names it)"),
    401: _error("No API key, or an unknown, expired or revoked one"),
    403: _error("The key may not do this"),
    404: _error("No such object, or no such API route"),
    409: _error("Conflicts with the current state: name taken, object in use, build running"),
    413: _error("The request body or an uploaded file is too large"),
    429: _error("A per-user quota is reached"),
    503: _error("The store cannot be reached: retry after the Retry-After delay"),
}


def api_router(*tags: str) -> APIRouter:
    """A domain's router, its paths under the API prefix, every route documenting the DSS
    error answers."""
    return APIRouter(prefix=API_PREFIX, tags=list(tags), responses=DSS_ERRORS)


def without_422(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with FastAPI's 422 answers and their schemas left out."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def install(app_router: APIRouter, routers: list[APIRouter]) -> None:
    """Put every route of `routers` straight on `app_router` (no nested level to walk)."""
    for router in routers:
        app_router.routes.extend(router.routes)
