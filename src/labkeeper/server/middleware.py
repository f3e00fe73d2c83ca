"""Pure ASGI middleware: the second base path, the body size limit, and the audit trail."""

from __future__ import annotations

import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labkeeper.server.errors import error_body

API_PREFIX = "/dip/publicapi"
ALIAS_PREFIX = "/public/api"
log = logging.getLogger("labkeeper.audit")


class AliasPrefix:
    """Serve `/public/api/...` as `/dip/publicapi/...`: one set of routes, two base paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == ALIAS_PREFIX or path.startswith(ALIAS_PREFIX + "/"):
                scope = dict(scope)
                scope["path"] = API_PREFIX + path[len(ALIAS_PREFIX) :]
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413 before a route ever sees them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        received = 0
        answered = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not answered:
                await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, max_bytes: int) -> None:
    body = orjson.dumps(
        error_body("PayloadTooLargeException", f"Request body too large: the limit is {max_bytes} bytes")
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AuditTrail:
    """Append an audit event for every state-changing API call, whatever its outcome."""

    def __init__(self, app: ASGIApp, record) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if scope["path"].startswith(API_PREFIX):
                self._record(scope, status)

    def _record(self, scope: Scope, status: int) -> None:
        principal = scope.get("state", {}).get("principal")
        route = scope.get("route")
        template = getattr(route, "path", None) or scope["path"]
        params = scope.get("path_params") or {}
        try:
            self.record(
                user=principal.name if principal else "",
                api_key_id=principal.key_id if principal else "",
                action=f"{scope['method']} {template.removeprefix(API_PREFIX)}",
                target="/".join(str(v) for v in params.values()),
                outcome="success" if status < 400 else f"error {status}",
            )
        except Exception:  # an audit failure must not turn a done write into an error
            log.exception("could not record audit event")
