"""Appending to and reading the audit log. Callers never pass secrets here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from labkeeper.audit.models import AuditEvent
from labkeeper.db import Store, now_ms
from labkeeper.server.logs import current_request_id


def record_event(
    store: Store,
    *,
    user: str,
    action: str,
    target: str = "",
    outcome: str = "success",
    api_key_id: str = "",
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Append one row; `request_id` defaults to the id of the request being served."""
    if request_id is None:
        request_id = current_request_id()
    with store.begin() as s:
        s.add(
            AuditEvent(
                time=now_ms(),
                user=user,
                api_key_id=api_key_id,
                action=action[:200],
                target=target,
                outcome=outcome[:40],
                details=details or {},
                request_id=request_id[:64],
            )
        )


def list_events(store: Store, *, since: int | None, limit: int | None, offset: int) -> list[dict[str, Any]]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if since is not None:
        query = query.where(AuditEvent.time >= since)
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    with store.read() as s:
        return [_to_dict(e) for e in s.scalars(query)]


def _to_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.time,
        "user": event.user,
        "apiKeyId": event.api_key_id,
        "action": event.action,
        "target": event.target,
        "outcome": event.outcome,
        "details": event.details,
        "requestId": event.request_id,
    }


def search_events(
    store: Store,
    *,
    user: str = "",
    action: str = "",
    outcome: str = "",
    since: int | None = None,
    until: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Events newest first, filtered: `user` exactly, `action` as a substring, `outcome`
    "success" or "error" (any failure), `since`/`until` in ms."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if user:
        query = query.where(AuditEvent.user == user)
    if action:
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditEvent.action.like(f"%{escaped}%", escape="\\"))
    if outcome == "success":
        query = query.where(AuditEvent.outcome == "success")
    elif outcome == "error":
        query = query.where(AuditEvent.outcome != "success")
    if since is not None:
        query = query.where(AuditEvent.time >= since)
    if until is not None:
        query = query.where(AuditEvent.time <= until)
    with store.read() as s:
        return [_to_dict(e) for e in s.scalars(query.offset(offset).limit(limit))]
