"""Session keys live on a lease: a notebook session's API key expires `LEASE_MS` after its
last renewal, and only the worker running the session's kernel renews it (from its
housekeeping rounds, every third of the lease).

Unloading a session deletes its key with its row, in one transaction. The lease is for
what that cannot cover: a worker that died without cleaning up, or a deletion that failed.
Either way the kernel's key stops working within one lease, restart or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from labkeeper.auth.models import ApiKey
from labkeeper.db import Store, now_ms
from labkeeper.notebooks.jupyter.models import JupyterSession

if TYPE_CHECKING:
    from labkeeper.notebooks.jupyter.sessions import SessionManager

LEASE_MS = 15 * 60_000
_NEXT_RENEWAL: dict[str, int] = {}  # worker id -> when it renews next


def lease_ms() -> int:
    """The lifetime of a new session key (read at each call, so tests may shorten it)."""
    return LEASE_MS


@dataclass(frozen=True)
class Renewal:
    session_ids: list[str]
    expires_on: int


def renewal_due(manager: SessionManager) -> Renewal | None:
    """The renewal to make now, if one is due (decided on the loop, written by `renew`)."""
    now = now_ms()
    if not manager.live or now < _NEXT_RENEWAL.get(manager.worker_id, 0):
        return None
    lease = lease_ms()
    _NEXT_RENEWAL[manager.worker_id] = now + lease // 3
    return Renewal(list(manager.live), now + lease)


def renew(store: Store, renewal: Renewal) -> None:
    """Extend the keys of the sessions whose kernels this worker runs (blocking: off the loop)."""
    running = select(JupyterSession.api_key_id).where(JupyterSession.id.in_(renewal.session_ids))
    with store.begin() as s:
        s.execute(
            update(ApiKey)
            .where(ApiKey.kind == "SESSION", ApiKey.id.in_(running))
            .values(expires_on=renewal.expires_on)
        )


def forget_worker(manager: SessionManager) -> None:
    _NEXT_RENEWAL.pop(manager.worker_id, None)
