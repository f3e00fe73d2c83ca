"""Kernel logs every API node reads. Each kernel launch writes its stdout and stderr to
`data_dir/jupyter/kernel-logs/<kernel id>.log` on the machine running it (kernels.py). On a
store shared by several nodes (PostgreSQL), the kernel's node copies the log's last
MAX_STORED_BYTES into `jupyter_kernel_logs` when it changed, at most every COPY_SECONDS,
from its housekeeping round; the row goes with the session. An API node answers from the
store and never from another machine: it stays stateless, and a log outlives the node that
wrote it until its session is forgotten. The kernel's own node (and a single machine, which
copies nothing) reads the file itself, so it is never behind.

Nothing secret leaves: every labkeeper API key (the session's own key included, which the
kernel holds in LABKEEPER_API_KEY) and the credentials of any URL are masked, when copied
and when read. Who reads a log: the session's creator, a project admin, an instance admin.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from labkeeper.auth.principal import Principal
from labkeeper.codeenvs.masking import mask
from labkeeper.db import Store
from labkeeper.notebooks.jupyter.models import JupyterSession, StoredKernelLog
from labkeeper.projects.access import can, require_project

if TYPE_CHECKING:
    from labkeeper.notebooks.jupyter.sessions import SessionManager

log = logging.getLogger("labkeeper.jupyter")
MAX_STORED_BYTES = 256 * 1024
COPY_SECONDS = 2.0
# labkeeper's API keys: "lk_" and a url-safe token (auth/keys.py).
_API_KEY = re.compile(r"lk_[A-Za-z0-9_\-]{16,}")
MASKED_KEY = "lk_***"
_CUT_WORD = re.compile(rb"^\S+")


def masked(text: str) -> str:
    """`text` with every API key and URL credential replaced."""
    return mask(_API_KEY.sub(MASKED_KEY, text))


def log_path(logs: Path, kernel_id: str) -> Path:
    return Path(logs) / f"{kernel_id}.log"


def read_tail(path: Path) -> tuple[str, int, int] | None:
    """The masked last MAX_STORED_BYTES of the file, its size and its mtime (ms); None when
    absent. Never follows a link (the folder is labkeeper's own, 0700)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as source:
        stat = os.fstat(source.fileno())
        start = max(0, stat.st_size - MAX_STORED_BYTES)
        source.seek(start)
        data = source.read(MAX_STORED_BYTES)
    if start:  # the cut may fall inside a key or a URL, whose rest would escape the masking
        data = _CUT_WORD.sub(b"", data, count=1)
    return masked(data.decode("utf-8", errors="replace")), stat.st_size, int(stat.st_mtime * 1000)


class KernelLogCopier:
    """On a kernel's node: the copies of its kernels' logs into the store (blocking calls,
    from the housekeeping round's thread)."""

    def __init__(self, store: Store, logs: Path, node: str, *, enabled: bool) -> None:
        self.store, self.logs, self.node, self.enabled = store, Path(logs), node, enabled
        self._copied: dict[str, tuple[int, int]] = {}  # session id -> (size, mtime) stored
        self._last = 0.0

    def due(self) -> bool:
        return self.enabled and time.monotonic() - self._last >= COPY_SECONDS

    def copy_round(self, kernels: list[tuple[str, str]]) -> None:
        """Copy the logs of these (session id, kernel id) that changed since their last copy."""
        self._last = time.monotonic()
        for session_id, kernel_id in kernels:
            try:
                self.copy(session_id, kernel_id)
            except Exception:  # noqa: BLE001 - the next round tries again; the file stays here
                log.warning("could not copy the log of session %s into the store", session_id, exc_info=True)
        for gone in set(self._copied) - {sid for sid, _ in kernels}:
            self._copied.pop(gone, None)

    def copy(self, session_id: str, kernel_id: str) -> bool:
        path = log_path(self.logs, kernel_id)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return False
        seen = (stat.st_size, int(stat.st_mtime * 1000))
        if self._copied.get(session_id) == seen:
            return False
        tail = read_tail(path)
        if tail is None:
            return False
        content, size, modified = tail
        values = {"node": self.node, "content": content, "size": size, "modified_on": modified}
        with self.store.begin() as s:
            # The session's row locked: a copy racing the session's end is deleted with it,
            # or finds it gone and writes nothing (no log outlives its session).
            if (
                s.scalar(select(JupyterSession.id).where(JupyterSession.id == session_id).with_for_update())
                is None
            ):
                return False
            done = s.execute(
                update(StoredKernelLog).where(StoredKernelLog.session_id == session_id).values(**values)
            )
            if not done.rowcount:
                s.add(StoredKernelLog(session_id=session_id, **values))
        self._copied[session_id] = (size, modified)
        return True


def forget(session: Any, session_id: str) -> None:
    """Delete a session's stored log, within the caller's transaction (with the session)."""
    session.execute(delete(StoredKernelLog).where(StoredKernelLog.session_id == session_id))


def may_read(principal: Principal, creator: str, project: Any) -> bool:
    """Whether `principal` may read the log of a session `creator` started in `project` (its
    `owner` and `permissions`: a Project or a row), READ on it granted: the creator, a project
    admin, an instance admin. The one rule, for `read_log` and for who is offered the log."""
    if principal.login is not None and principal.login == creator:
        return True
    return can(principal, project.owner, project.permissions or {}, "ADMIN")


def read_log(
    manager: SessionManager, principal: Principal, project_key: str, notebook_name: str, session_id: str
) -> dict[str, Any]:
    """The session's kernel log (its last MAX_STORED_BYTES), for its creator, a project admin
    or an instance admin (403 for anyone else); a 404 for no such session of that notebook."""
    project = require_project(manager.store, principal, project_key, "READ")
    row = manager._row_of(project_key, notebook_name, session_id)
    if not may_read(principal, row.creator, project):
        require_project(manager.store, principal, project_key, "ADMIN")  # the refusal, worded there
    answer: dict[str, Any] = {"sessionId": row.id, "kernelId": row.kernel_id, "node": row.node}
    tail = None
    if row.node in ("", manager.node):  # this machine runs it: its file is the freshest
        tail = read_tail(log_path(manager.logs, row.kernel_id))
    if tail is None:
        with manager.store.read() as s:
            stored = s.get(StoredKernelLog, row.id)
        if stored is not None:  # masked when copied; again, should the rule have grown since
            tail = masked(stored.content), stored.size, stored.modified_on
    content, size, modified = tail if tail is not None else ("", 0, 0)
    return {
        **answer,
        "size": size,
        "lastModified": modified,
        "truncated": size > MAX_STORED_BYTES,
        "maxBytes": MAX_STORED_BYTES,
        "content": content,
    }
