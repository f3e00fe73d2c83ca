"""Restarting a session's kernel: one step as every reader of the session sees it.

A restart stops the kernel's process and launches a new one (same sockets, same account,
same log). In between, the old pid is dead and the new one not yet known; a watcher that
looked then would take the session for a crashed kernel and end it. So a restart is
bracketed by `restarting()`: before the old process stops, the session is marked
RESTARTING (in `_restarting` for this worker's housekeeping, in its row for every other
reader: `_is_live` keeps such a row listed); the new process is recorded before the mark is
lifted. The restart itself is whoever holds the bracket: jupyter_server's kernel manager
(lab/kernels.py), whose restart also waits for the kernel's first reply. Mixed into
`SessionManager`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import psutil
from sqlalchemy import update

from labkeeper.errors import Conflict
from labkeeper.notebooks.jupyter.models import RESTARTING, RUNNING, JupyterSession
from labkeeper.processes import stop_tree

if TYPE_CHECKING:
    from labkeeper.db import Store
    from labkeeper.notebooks.jupyter.starts import LiveKernel

log = logging.getLogger("labkeeper.jupyter")


class Restarts:
    store: Store
    live: dict[str, LiveKernel]
    _stopping: set[str]
    _restarting: set[str]

    @contextlib.asynccontextmanager
    async def restarting(self, session_id: str) -> AsyncIterator[LiveKernel]:
        """Bracket a restart of the session's kernel (run on the manager's loop): marked
        RESTARTING for its whole length, its new process recorded before it ends."""
        live = self.live.get(session_id)
        if live is None:
            raise Conflict(
                f"Session {session_id} runs in another labkeeper worker process, or is gone",
                detail=f"The kernel of session {session_id} is not run by this labkeeper worker process: "
                "retry (another connection may reach the worker that runs it), or unload the session",
            )
        if session_id in self._stopping or session_id in self._restarting:
            raise Conflict(
                f"Session {session_id} is already stopping or restarting: try again once it is done"
            )
        self._restarting.add(session_id)
        before = (live.pid, live.create_time)
        try:
            await asyncio.to_thread(self._mark, session_id, RESTARTING)
            yield live
            if self.live.get(session_id) is not live:  # unloaded meanwhile: nothing new may outlive it
                await asyncio.to_thread(self._stop_new_process, live)
            elif await live.km.is_alive():
                await asyncio.to_thread(self._record_new_process, live, *before)
        finally:
            self._restarting.discard(session_id)
            if self.live.get(session_id) is live:
                # A kernel that did not come back is ended by the next housekeeping round.
                await asyncio.to_thread(self._mark, session_id, RUNNING)

    def _mark(self, session_id: str, state: str) -> None:
        with self.store.begin() as s:
            s.execute(update(JupyterSession).where(JupyterSession.id == session_id).values(state=state))

    def _record_new_process(self, live: LiveKernel, old_pid: int, old_create_time: float) -> None:
        """Record the kernel's new process, and stop whatever the old one left behind."""
        pid = live.km.provisioner.pid  # type: ignore[union-attr]
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            create_time = 0.0
        if (pid, create_time) != (old_pid, old_create_time):
            stop_tree(old_pid, started_at=old_create_time)
        live.pid, live.create_time, live.dirty = pid, create_time, True
        with self.store.begin() as s:
            s.execute(
                update(JupyterSession)
                .where(JupyterSession.id == live.session_id)
                .values(pid=pid, pid_create_time=create_time)
            )

    def _stop_new_process(self, live: LiveKernel) -> None:
        pid = getattr(live.km.provisioner, "pid", None)
        if pid:  # our own child, not yet reaped: its pid cannot name another process
            log.warning(
                "session %s was unloaded while its kernel restarted: stopping pid %s", live.session_id, pid
            )
            stop_tree(pid)
