"""Housekeeping of the kernels a worker owns: dead kernels, sessions stopped by another
worker, execution states written to the store, idle kernels unloaded (and audited), and the
stop of a deleted project's kernels. Mixed into `SessionManager`."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from labkeeper.db import now_ms
from labkeeper.errors import NotFound
from labkeeper.notebooks.jupyter import keylease
from labkeeper.notebooks.jupyter.events import record_unloaded
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.processes import stop_tree
from labkeeper.settings.service import get_general_settings

if TYPE_CHECKING:
    from labkeeper.db import Store
    from labkeeper.isolation.layout import RunTree
    from labkeeper.notebooks.jupyter.kernellogs import KernelLogCopier
    from labkeeper.notebooks.jupyter.remote import NodeKernels
    from labkeeper.notebooks.jupyter.starts import LiveKernel

log = logging.getLogger("labkeeper.jupyter")
HOUSEKEEPING_SECONDS = 0.5


class Housekeeping:
    store: Store
    tree: RunTree
    worker_id: str
    node: str
    nodes: NodeKernels
    kernel_logs: KernelLogCopier
    live: dict[str, LiveKernel]
    _stopping: set[str]
    _restarting: set[str]
    _loop: asyncio.AbstractEventLoop | None

    if TYPE_CHECKING:  # provided by SessionManager

        async def _unload(
            self, session_id: str, *, reason: str, by: str, idle_ms: int | None = None
        ) -> Any: ...
        async def _shutdown(self, live: LiveKernel) -> None: ...
        def _forget(self, session_id: str) -> None: ...
        async def unload(
            self, session_id: str, *, reason: str, by: str, idle_ms: int | None = None
        ) -> Any: ...

    async def unload_user(self, login: str, *, reason: str, by: str = "labkeeper") -> list[str]:
        """Stop every kernel `login` created, on any worker (a disabled or deleted user);
        each stop is audited like any unload. Returns the ids of the sessions stopped."""
        with self.store.read() as s:
            ids = list(s.scalars(select(JupyterSession.id).where(JupyterSession.creator == login)))
        stopped = []
        for session_id in ids:
            try:
                await self.unload(session_id, reason=reason, by=by)
            except NotFound:
                continue  # stopped meanwhile by someone else
            stopped.append(session_id)
        return stopped

    def project_deleted(self, project_key: str) -> None:
        """Stop the project's kernels (from any thread) and remove its working directories."""
        with self.store.read() as s:
            rows = list(s.scalars(select(JupyterSession).where(JupyterSession.project_key == project_key)))
        for row in rows:
            live = self.live.get(row.id)
            if row.pid and row.node in ("", self.node):
                stop_tree(row.pid, started_at=row.pid_create_time)
            self._forget(row.id)
            self.nodes.stopped_elsewhere(row)
            if live is not None and self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(lambda live=live: asyncio.ensure_future(self._shutdown(live)))
            record_unloaded(self.store, row, reason="its project was deleted")
        self.tree.remove_project(project_key)

    def notebook_renamed(self, project_key: str, name: str, new_name: str) -> None:
        """A renamed notebook keeps its sessions, under its new name."""
        with self.store.begin() as s:
            s.execute(
                update(JupyterSession)
                .where(JupyterSession.project_key == project_key, JupyterSession.notebook_name == name)
                .values(notebook_name=new_name)
            )

    async def _housekeeping(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            rounds += 1
            if not self.live:
                continue
            try:
                await self._housekeeping_round(check_rows=rounds % 4 == 0)
            except Exception:
                log.exception("jupyter housekeeping round failed")

    async def _housekeeping_round(self, *, check_rows: bool) -> None:
        """One round. Its store work runs off the event loop (a write may wait for a lock,
        and every round trip would stall the worker's requests)."""
        for live in list(self.live.values()):
            if live.session_id in self._stopping or live.session_id in self._restarting:
                continue  # a restarting kernel is between two processes, not dead (restart.py)
            if not await live.km.is_alive():
                await self._unload(live.session_id, reason="the kernel process exited", by="labkeeper")
        if check_rows:
            known = await asyncio.to_thread(self._sessions_in_store)
            for session_id in [sid for sid in self.live if sid not in known and sid not in self._stopping]:
                live = self.live.pop(session_id)  # stopped by another worker: finish the job here
                await self._shutdown(live)
        dirty = self._take_dirty()
        renewal = keylease.renewal_due(self)  # type: ignore[arg-type]
        await asyncio.to_thread(self._store_round, dirty, renewal)
        if self.kernel_logs.due():
            kernels = [(live.session_id, live.kernel_id) for live in self.live.values()]
            await asyncio.to_thread(self.kernel_logs.copy_round, kernels)
        timeout = (await asyncio.to_thread(get_general_settings, self.store))["notebooks"].get(
            "idleKernelTimeoutSeconds"
        ) or 0
        if isinstance(timeout, (int, float)) and timeout > 0:
            now = now_ms()
            for live in list(self.live.values()):
                idle_ms = now - live.last_activity_ms
                if (
                    live.execution_state == "idle"
                    and live.connections == 0
                    and idle_ms > timeout * 1000
                    and live.session_id not in self._restarting
                ):
                    await self._unload(
                        live.session_id,
                        reason=f"idle for more than {timeout} s",
                        by="labkeeper",
                        idle_ms=idle_ms,
                    )

    def _sessions_in_store(self) -> set[str]:
        with self.store.read() as s:
            return set(s.scalars(select(JupyterSession.id).where(JupyterSession.worker_id == self.worker_id)))

    def _take_dirty(self) -> list[tuple[str, str, int, int]]:
        """The kernels' activity to write, taken on the loop (where it changes)."""
        dirty = []
        for live in self.live.values():
            if live.dirty:
                live.dirty = False
                dirty.append((live.session_id, live.execution_state, live.last_activity_ms, live.connections))
        return dirty

    def _store_round(self, dirty: list[tuple[str, str, int, int]], renewal: keylease.Renewal | None) -> None:
        if dirty:
            with self.store.begin() as s:
                for session_id, state, last_activity, connections in dirty:
                    values = {"execution_state": state, "last_activity_on": last_activity}
                    s.execute(
                        update(JupyterSession)
                        .where(JupyterSession.id == session_id)
                        .values(connections=connections, **values)
                    )
        if renewal is not None:
            keylease.renew(self.store, renewal)

    def attach(self, session_id: str, delta: int) -> None:
        """Count a frontend (a run, later a browser) attached to a session's kernel."""
        live = self.live.get(session_id)
        if live is not None:
            live.connections = max(0, live.connections + delta)
            live.dirty = True
            if delta > 0:
                live.last_activity_ms = now_ms()
