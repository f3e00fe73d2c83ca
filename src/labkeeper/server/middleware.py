"""Pure ASGI middleware: the second base path, the body size limit, and the audit trail."""

from __future__ import annotations

import logging
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labkeeper.auth.keys import mask_secrets
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


class Unaudited:
    """State-changing requests the audit log does not record, counted per worker process:
    no valid key (`unauthenticated`) or no such route (`unknownRoute`). Their caller chose
    every word of them, so they are never appended as actions; a warning line says how many
    came, at most once a minute, and GET /admin/audit/unaudited answers the counts."""

    LOG_EVERY_S = 60.0

    def __init__(self) -> None:
        self.since = int(time.time() * 1000)
        self.counts = {"unauthenticated": 0, "unknownRoute": 0}
        self._pending = 0
        self._logged_at = time.monotonic()

    def count(self, reason: str) -> None:
        self.counts[reason] += 1
        self._pending += 1
        now = time.monotonic()
        if now - self._logged_at >= self.LOG_EVERY_S:
            log.warning(
                "%d state-changing requests without a valid key or to no route in the last %.0f s "
                "were not audited (totals since start: %s)",
                self._pending,
                now - self._logged_at,
                self.counts,
            )
            self._pending, self._logged_at = 0, now

    def as_json(self) -> dict[str, int]:
        return {"since": self.since, **self.counts}


class AuditTrail:
    """Append an audit event for every authenticated state-changing API call, whatever its
    outcome; count the others (see Unaudited). Key-like values never reach a row."""

    def __init__(self, app: ASGIApp, record, unaudited: Unaudited) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.record = record
        self.unaudited = unaudited

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
            principal = scope.get("state", {}).get("principal")
            if scope.get("route") is None or not scope["path"].startswith(API_PREFIX):
                self.unaudited.count("unknownRoute")
            elif principal is None:
                self.unaudited.count("unauthenticated")
            else:
                self._record(scope, principal, status)

    def _record(self, scope: Scope, principal, status: int) -> None:  # type: ignore[no-untyped-def]
        template = scope["route"].path
        params = scope.get("path_params") or {}
        details = {}
        if principal.proxied_by is not None:  # an admin key acting as a user: both are named
            details = {"authenticatedAs": principal.proxied_by, "actingAs": principal.name}
        try:
            self.record(
                user=principal.audit_name[:100],
                api_key_id=principal.key_id,
                action=mask_secrets(f"{scope['method']} {template.removeprefix(API_PREFIX)}"),
                target=mask_secrets("/".join(str(v) for v in params.values())),
                outcome="success" if status < 400 else f"error {status}",
                details=details,
            )
        except Exception:  # an audit failure must not turn a done write into an error
            log.exception("could not record audit event")
