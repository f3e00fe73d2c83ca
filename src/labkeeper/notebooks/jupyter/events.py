"""The audit event of a kernel that stopped, whoever stopped it and why."""

from __future__ import annotations

from typing import Any

from labkeeper.audit.service import record_event
from labkeeper.db import Store
from labkeeper.notebooks.jupyter.models import JupyterSession


def record_unloaded(
    store: Store,
    row: JupyterSession,
    *,
    reason: str,
    by: str = "labkeeper",
    idle_seconds: float | None = None,
    **more: Any,
) -> None:
    record_event(
        store,
        user=by,
        action="jupyter-kernel-unloaded",
        target=f"{row.project_key}/{row.notebook_name}",
        details={
            "sessionId": row.id,
            "kernelId": row.kernel_id,
            "kernelPid": row.pid,
            "reason": reason,
            **more,
            "creator": row.creator,
            "unixOwner": row.unix_owner,
            "idleSeconds": idle_seconds,
        },
    )
