"""Four of jupyter_server's handlers, answering labkeeper's refusals with their own status.

Jupyter wraps any failure of a session start or a kernel restart in a 500, and of a kernel
change (PATCH of a session) in a 501; a refusal of labkeeper's rules (403, 404, 409, 429)
must reach the caller as itself. These subclasses unwrap exactly that case and change
nothing else; they take precedence over Jupyter's. A kernel websocket refused before its
upgrade (404, 409) answers with a JSON message, as the REST API does, not an HTML page: the
proxy passes the message on.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Awaitable, Callable
from http.client import responses
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.services.kernels.handlers import (
    KernelActionHandler,
    _kernel_action_regex,
    _kernel_id_regex,
)
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
from jupyter_server.services.sessions.handlers import SessionHandler, SessionRootHandler, _session_id_regex
from jupyter_server.utils import url_path_join
from tornado import web

# The refusal of a kernel start, kept where the handler finds it after Jupyter caught it (each
# Tornado request runs in a task of its own: it is this request's).
KERNEL_REFUSAL: contextvars.ContextVar[web.HTTPError | None] = contextvars.ContextVar(
    "lab_kernel_refusal", default=None
)


async def _refusals_kept(call: Callable[[], Awaitable[Any]]) -> None:
    try:
        await call()
    except web.HTTPError as exc:
        cause = exc.__cause__
        if exc.status_code == 500 and isinstance(cause, web.HTTPError) and 400 <= cause.status_code < 500:
            raise cause from None
        raise


def _require_session_body(handler: APIHandler) -> None:
    """Jupyter reads a session body's fields without checking their types (a 500 otherwise)."""
    model = handler.get_json_body()  # a 400 for what is not JSON
    if model is None:
        return
    if not isinstance(model, dict):
        raise web.HTTPError(400, "A JSON object is required")
    for field in ("kernel", "notebook"):
        if model.get(field) is not None and not isinstance(model[field], dict):
            raise web.HTTPError(400, f"Field {field!r} must be a JSON object")
    for field in ("path", "name", "type"):
        if model.get(field) is not None and not isinstance(model[field], str):
            raise web.HTTPError(400, f"Field {field!r} must be a string")


class LabSessionRootHandler(SessionRootHandler):
    async def post(self) -> None:
        _require_session_body(self)
        await _refusals_kept(super().post)


class LabSessionHandler(SessionHandler):
    """PATCH with a new kernel: Jupyter answers any failed start with a 501 it writes itself."""

    async def patch(self, session_id: str) -> None:
        _require_session_body(self)
        await super().patch(session_id)

    def set_status(self, status_code: int, reason: str | None = None) -> None:
        refusal = KERNEL_REFUSAL.get()
        if status_code == 501 and refusal is not None:
            status_code = refusal.status_code
        super().set_status(status_code, reason)


class JsonErrors:
    """For a websocket handler: errors before the upgrade as JSON (`{"message": ...}`)."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, web.HTTPError):
            message = exc.log_message or responses.get(status_code, "Error")
        else:
            message = "Unhandled error"
        self.set_header("Content-Type", "application/json")  # type: ignore[attr-defined]
        self.finish(json.dumps({"message": message}))  # type: ignore[attr-defined]


class LabKernelWebsocketHandler(JsonErrors, KernelWebsocketHandler):
    """Jupyter's kernel websocket, refusing with a JSON message."""


class LabKernelActionHandler(KernelActionHandler):
    async def post(self, kernel_id: str, action: str) -> None:
        await _refusals_kept(lambda: super(LabKernelActionHandler, self).post(kernel_id, action))


def install(web_app: web.Application, base_url: str) -> None:
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, r"/api/sessions"), LabSessionRootHandler),
            (url_path_join(base_url, rf"/api/sessions/{_session_id_regex}"), LabSessionHandler),
            (
                url_path_join(base_url, rf"/api/kernels/{_kernel_id_regex}/{_kernel_action_regex}"),
                LabKernelActionHandler,
            ),
            (
                url_path_join(base_url, rf"/api/kernels/{_kernel_id_regex}/channels"),
                LabKernelWebsocketHandler,
            ),
        ],
    )
