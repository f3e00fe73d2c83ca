"""The one mapping of errors to HTTP answers with the DSS error body."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from labkeeper.errors import LabkeeperError
from labkeeper.server.responses import json_response

log = logging.getLogger("labkeeper")

_HTTP_TYPES = {404: "NotFoundException", 405: "MethodNotAllowedException", 401: "UnauthorizedException"}


def error_body(error_type: str, message: str, detail: str | None = None) -> dict[str, str]:
    return {"errorType": error_type, "message": message, "detailedMessage": detail or message}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LabkeeperError)
    async def _domain(_request: Request, exc: LabkeeperError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
        )
        return json_response(error_body("BadRequestException", f"Invalid request: {problems}"), 400)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        kind = _HTTP_TYPES.get(exc.status_code, "HttpException")
        message = str(exc.detail) if exc.detail else kind
        if exc.status_code == 404:
            message = "No such API route: check the path and the method"
        return json_response(error_body(kind, message), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return unexpected_error(request, exc)


def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response(error_body("InternalError", "Internal error: the server logs have the details"), 500)
