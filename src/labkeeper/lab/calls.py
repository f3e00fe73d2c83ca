"""Calling labkeeper's services from jupyter_server's managers: off the event loop, with the
request's principal, each refusal turned into the HTTP error jupyter_server answers (the
proxy gives it the DSS error body), and each change recorded in the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tornado import web

from labkeeper.audit.service import record_event
from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.errors import LabkeeperError


def http_error(exc: LabkeeperError) -> web.HTTPError:
    return web.HTTPError(exc.status if 400 <= exc.status < 500 else 500, exc.detail or exc.message)


def audit(store: Store, principal: Principal, action: str, target: str, outcome: str) -> None:
    record_event(
        store,
        user=principal.audit_name[:100],
        api_key_id=principal.key_id,
        action=f"lab {action}",
        target=target[:200],
        outcome=outcome,
    )


async def change(
    store: Store, principal: Principal, action: str, target: str, work: Callable[[], Any]
) -> Any:
    """Run a state change (`work`, blocking, or returning an awaitable) and audit its outcome."""
    try:
        result = await asyncio.to_thread(work)
        if asyncio.iscoroutine(result):
            result = await result
    except LabkeeperError as exc:
        await asyncio.to_thread(audit, store, principal, action, target, f"error {exc.status}")
        raise http_error(exc) from None
    except web.HTTPError as exc:
        await asyncio.to_thread(audit, store, principal, action, target, f"error {exc.status_code}")
        raise
    await asyncio.to_thread(audit, store, principal, action, target, "success")
    return result


async def read(work: Callable[[], Any]) -> Any:
    """Run a blocking read; refusals become HTTP errors."""
    try:
        return await asyncio.to_thread(work)
    except LabkeeperError as exc:
        raise http_error(exc) from None
