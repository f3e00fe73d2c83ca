"""After a restart: stop every kernel a dead labkeeper process left behind.

A session row whose worker (host:pid:nonce) ran on this host and is gone is stale: its
kernel's whole process session is killed (pid + create time guard against pid reuse; for
a kernel that never got its pid recorded, its process is found by its connection file),
then the row, its API key and its files go, and the audit log says so. SESSION keys of
this domain that no row references any more are revoked too.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

import psutil
from sqlalchemy import delete, select

from labkeeper.auth.models import ApiKey
from labkeeper.db import now_ms
from labkeeper.notebooks.jupyter.events import record_unloaded
from labkeeper.notebooks.jupyter.models import RESTARTING, JupyterSession
from labkeeper.processes import stop_tree

if TYPE_CHECKING:
    from labkeeper.notebooks.jupyter.sessions import SessionManager

log = logging.getLogger("labkeeper.jupyter")
ORPHAN_KEY_AGE_MS = 60_000


def _worker_gone(worker_id: str, host: str) -> bool:
    worker_host, _, rest = worker_id.partition(":")
    if worker_host != host:
        return False  # another machine's kernel: not ours to judge
    pid_text, _, _nonce = rest.partition(":")
    pid = int(pid_text or 0)
    if pid == os.getpid():
        return True  # an earlier incarnation in this very process (its nonce differs)
    return not psutil.pid_exists(pid)


def _find_by_connection_file(path: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if path and path in (proc.info.get("cmdline") or []):
            found.append(proc.pid)
    return found


def stop_leftovers(manager: SessionManager) -> int:
    from labkeeper.notebooks.jupyter.starts import KEY_LABEL

    host = socket.gethostname()
    store = manager.store
    with store.read() as s:
        # Only this node's: another node on this host (a container, a namespace) judges its own.
        rows = [
            r
            for r in s.scalars(select(JupyterSession))
            if r.node in ("", manager.node) and _worker_gone(r.worker_id, host)
        ]
    for row in rows:
        killed = 0
        if row.pid:
            killed = stop_tree(row.pid, started_at=row.pid_create_time)
        if not row.pid or row.state == RESTARTING:  # its process may be one no row names yet
            for pid in _find_by_connection_file(row.connection_file):
                killed += stop_tree(os.getsid(pid)) if psutil.pid_exists(pid) else 0
        manager._forget(row.id)
        record_unloaded(
            store,
            row,
            reason="labkeeper restarted: the kernel's server process was gone",
            processesKilled=killed,
        )
        log.warning("stopped kernel %s of a previous labkeeper process (%d processes)", row.kernel_id, killed)
    with store.begin() as s:
        referenced = set(s.scalars(select(JupyterSession.api_key_id)))
        orphans = [
            key_id
            for key_id, label in s.execute(
                select(ApiKey.id, ApiKey.label).where(
                    ApiKey.kind == "SESSION", ApiKey.created_on < now_ms() - ORPHAN_KEY_AGE_MS
                )
            )
            if label.startswith(KEY_LABEL) and key_id not in referenced
        ]
        if orphans:
            s.execute(delete(ApiKey).where(ApiKey.id.in_(orphans)))
    return len(rows)
