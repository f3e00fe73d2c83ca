"""The one mapping of errors to HTTP answers with the DSS error body."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from labkeeper.db.health import RETRY_AFTER_S, StoreUnavailable, describe, is_unreachable
from labkeeper.errors import BadRequest, LabkeeperError
from labkeeper.server.params import invalid_request
from labkeeper.server.responses import json_response

log = logging.getLogger("labkeeper")

_HTTP_TYPES = {404: "NotFoundException", 405: "MethodNotAllowedException", 401: "UnauthorizedException"}


def error_body(error_type: str, message: str, detail: str | None = None) -> dict[str, str]:
    return {"errorType": error_type, "message": message, "detailedMessage": detail or message}


def answer_for(exc: BaseException, app: FastAPI) -> Response:
    """The answer to a request that raised `exc`: its DSS error body and status, 503 with
    `Retry-After` when the store cannot be reached, else a 500 whose details are logged."""
    exc.labkeeper_answered = True  # type: ignore[attr-defined]
    if is_unreachable(exc):
        state = app.state
        if getattr(state, "store", None) is not None:
            state.store.health.failed(exc)  # logs once per outage
        if getattr(state, "metrics", None) is not None:
            state.metrics.store_errors.inc()
        unavailable = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(describe(exc))
        response = json_response(unavailable.body(), unavailable.status)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    if isinstance(exc, LabkeeperError):
        return json_response(exc.body(), exc.status)
    if isinstance(exc, DataError) and "NUL (0x00)" in str(exc.orig):
        # Refused by the driver before the statement ran: the request's unit rolls back.
        refused = BadRequest(
            "Invalid request: a value holds a NUL character (\\u0000), which the store cannot keep: remove it"
        )
        return json_response(refused.body(), refused.status)
    if isinstance(exc, HTTPException):
        kind = _HTTP_TYPES.get(exc.status_code, "HttpException")
        message = str(exc.detail) if exc.detail else kind
        if exc.status_code == 404:
            message = "No such API route: not supported by labkeeper, or a mistake in the path or the method"
        response = json_response(error_body(kind, message), exc.status_code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    if isinstance(exc, RequestValidationError):
        invalid = invalid_request(exc.errors())
        return json_response(invalid.body(), invalid.status)
    log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)  # repeats are rate-limited
    return json_response(error_body("InternalError", "Internal error: the server logs have the details"), 500)


def install_error_handlers(
    app: FastAPI, page: Callable[[Request, Exception], Response | None] | None = None
) -> None:
    """The same mapping for the routes FastAPI answers itself (404, 405, uncompiled routes);
    `page` may answer first with a page for a browser (None: the mapping answers)."""

    async def handle(request: Request, exc: Exception) -> Response:
        answer = page(request, exc) if page is not None else None
        return answer if answer is not None else answer_for(exc, app)

    for kind in (LabkeeperError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, handle)
