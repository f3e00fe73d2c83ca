"""Session keys live on a lease: a notebook session's API key expires `LEASE_MS` after its
last renewal, and only the worker running the session's kernel renews it (from its
housekeeping rounds, every third of the lease).

Unloading a session deletes its key with its row, in one transaction. The lease is for
what that cannot cover: a worker that died without cleaning up, or a deletion that failed.
Either way the kernel's key stops working within one lease, restart or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from labkeeper.auth.models import ApiKey
from labkeeper.db import now_ms
from labkeeper.notebooks.jupyter.models import JupyterSession

if TYPE_CHECKING:
    from labkeeper.notebooks.jupyter.sessions import SessionManager

LEASE_MS = 15 * 60_000
_NEXT_RENEWAL: dict[str, int] = {}  # worker id -> when it renews next


def lease_ms() -> int:
    """The lifetime of a new session key (read at each call, so tests may shorten it)."""
    return LEASE_MS


def renew_due(manager: SessionManager) -> None:
    """Extend the keys of the sessions whose kernels this worker runs, when a renewal is due."""
    now = now_ms()
    if not manager.live or now < _NEXT_RENEWAL.get(manager.worker_id, 0):
        return
    lease = lease_ms()
    _NEXT_RENEWAL[manager.worker_id] = now + lease // 3
    running = select(JupyterSession.api_key_id).where(JupyterSession.id.in_(list(manager.live)))
    with manager.store.begin() as s:
        s.execute(
            update(ApiKey)
            .where(ApiKey.kind == "SESSION", ApiKey.id.in_(running))
            .values(expires_on=now + lease)
        )


def forget_worker(manager: SessionManager) -> None:
    _NEXT_RENEWAL.pop(manager.worker_id, None)
