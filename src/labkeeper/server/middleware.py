"""Pieces of the request path (server/request_path.py): the body limit's answer, the audit
row of a state-changing call, and the count of those the audit log does not record."""

from __future__ import annotations

import logging
import time

import orjson
from starlette.types import Scope, Send

from labkeeper.auth.keys import mask_secrets
from labkeeper.server.errors import error_body
from labkeeper.server.routing import API_PREFIX

log = logging.getLogger("labkeeper.audit")


class BodyTooLarge(Exception):
    """A body over the limit: answered 413 before a route ever sees it."""


async def too_large(send: Send, max_bytes: int) -> None:
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


def audit_event(  # type: ignore[no-untyped-def]
    record, scope: Scope, principal, status: int, request_id: str, *, strict: bool = False
) -> None:
    """Append the audit row of an authenticated state-changing call, whatever its outcome.
    Key-like values never reach a row. `strict`: the row goes in with the request's own
    writes (server/units.py), so a failure here fails the request; otherwise it is logged."""
    template = scope["route"].path
    params = scope.get("path_params") or {}
    details = {}
    if principal.proxied_by is not None:  # an admin key acting as a user: both are named
        details = {"authenticatedAs": principal.proxied_by, "actingAs": principal.name}
    try:
        record(
            user=principal.audit_name[:100],
            api_key_id=principal.key_id,
            action=mask_secrets(f"{scope['method']} {template.removeprefix(API_PREFIX)}"),
            target=mask_secrets("/".join(str(v) for v in params.values())),
            outcome="success" if status < 400 else f"error {status}",
            details=details,
            request_id=request_id,
        )
    except Exception:
        if strict:
            raise
        log.exception("could not record audit event")
