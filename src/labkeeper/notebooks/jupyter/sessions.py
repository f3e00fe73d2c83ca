"""Notebook sessions: real kernels, started for a user, watched, listed and stopped.

The worker process that starts a kernel owns it (its `LiveKernel`: the kernel manager and
an IOPub watcher that follows the kernel's status messages). Every session also has a row
in `jupyter_sessions`, so any worker can list it and stop it (by its pid and create time);
the owner notices a vanished row, or a dead kernel, at its next housekeeping round.

A session carries a SESSION API key acting as its creator, handed to the kernel in
`LABKEEPER_API_KEY` and deleted with the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from labkeeper.auth.models import ApiKey
from labkeeper.codeenvs.usages import register_usage_provider
from labkeeper.config import Config
from labkeeper.db import Store, now_ms
from labkeeper.isolation.layout import RunTree
from labkeeper.notebooks.jupyter import kernellogs, keylease
from labkeeper.notebooks.jupyter.envusage import notebook_env_usages, notebook_files_stamp
from labkeeper.notebooks.jupyter.events import record_unloaded
from labkeeper.notebooks.jupyter.housekeeping import Housekeeping
from labkeeper.notebooks.jupyter.kernels import (
    KernelSpecs,
    LabkeeperMultiKernelManager,
    build_kernel_lib,
)
from labkeeper.notebooks.jupyter.models import JupyterSession
from labkeeper.notebooks.jupyter.queries import SessionQueries
from labkeeper.notebooks.jupyter.remote import NodeKernels
from labkeeper.notebooks.jupyter.restart import Restarts
from labkeeper.notebooks.jupyter.runtime import builtin_python
from labkeeper.notebooks.jupyter.starts import LiveKernel, Starts
from labkeeper.notebooks.jupyter.storage import storage_for
from labkeeper.processes import stop_tree

log = logging.getLogger("labkeeper.jupyter")
# One manager per store: operations (which get only the store) find theirs here.
MANAGERS: dict[int, SessionManager] = {}


def manager_for(store: Store) -> SessionManager:
    manager = MANAGERS.get(id(store))
    if manager is None:
        raise RuntimeError("the Jupyter component is not started")
    return manager


def _header_ms(msg: dict[str, Any]) -> int:
    date = (msg.get("header") or {}).get("date")
    return int(date.timestamp() * 1000) if hasattr(date, "timestamp") else now_ms()


class SessionManager(SessionQueries, Housekeeping, Restarts, Starts):
    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self.tree = RunTree(config.data_dir)
        self.notebooks = storage_for(config.effective_notebook_storage, store, config.data_dir)
        self.specs = KernelSpecs(config.data_dir, builtin_python(config.data_dir, config.kernel_python))
        self.logs = Path(config.data_dir) / "jupyter" / "kernel-logs"
        self.kernels = LabkeeperMultiKernelManager(
            kernel_spec_manager=self.specs.manager, connection_dir=str(self.tree.connections)
        )
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.node = config.effective_node_name
        # Several nodes share a PostgreSQL store only: one machine reads its own files.
        self.kernel_logs = kernellogs.KernelLogCopier(
            store, self.logs, self.node, enabled=not config.is_sqlite
        )
        self.live: dict[str, LiveKernel] = {}
        self._housekeeper: asyncio.Task | None = None
        self._stopping: set[str] = set()
        self._restarting: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.nodes = NodeKernels(self)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, *, background: bool) -> None:
        from labkeeper.notebooks.jupyter import recovery

        self._loop = asyncio.get_running_loop()
        self.tree.prepare()
        await asyncio.to_thread(self.notebooks.prepare)
        self.specs.install_builtin()
        self.logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        await asyncio.to_thread(build_kernel_lib, self.tree.kernel_lib)
        await asyncio.to_thread(recovery.stop_leftovers, self)
        MANAGERS[id(self.store)] = self
        register_usage_provider(notebook_env_usages, files_stamp=notebook_files_stamp)
        if background:
            self._housekeeper = asyncio.create_task(self._housekeeping())
        await self.nodes.start(background=background)

    async def stop(self) -> None:
        await self.nodes.stop()
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
        for session_id in list(self.live):
            with contextlib.suppress(Exception):
                await self._unload(session_id, reason="server shutdown", by="labkeeper")
        MANAGERS.pop(id(self.store), None)
        keylease.forget_worker(self)
        with contextlib.suppress(OSError):  # only when empty: another worker may still use it
            os.rmdir(self.tree.sockets)
        # The kernels' zmq context ends with the manager, here on its own loop. Left to the
        # garbage collector, jupyter_client's __del__ destroys it from whichever thread
        # collects it, where `term` can wait forever on sockets another thread still holds.
        if not self.kernels.context.closed:
            self.kernels.context.destroy(linger=0)

    async def _home(self, coroutine: Any) -> Any:
        """Run `coroutine` on the loop the manager started on, where its kernels and their
        sockets live (a request may be served on another loop, e.g. by a test client)."""
        assert self._loop is not None, "the session manager is not started"
        if asyncio.get_running_loop() is self._loop:
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    # -- watching --------------------------------------------------------------------------
    async def _watch(self, live: LiveKernel) -> None:
        """Follow the kernel's IOPub status messages: its execution state and last activity."""
        assert live.client is not None
        while True:
            try:
                msg = await live.client.get_iopub_msg()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - channel closed: the kernel is going away
                return
            if msg.get("msg_type") == "status":
                live.execution_state = msg["content"].get("execution_state", live.execution_state)
                live.last_activity_ms = _header_ms(msg)
                live.km.execution_state = live.execution_state
                live.km.last_activity = msg["header"].get("date")
                live.dirty = True

    # -- stopping --------------------------------------------------------------------------
    async def unload(
        self, session_id: str, *, reason: str, by: str, idle_ms: int | None = None
    ) -> dict[str, Any]:
        return await self._home(self._unload(session_id, reason=reason, by=by, idle_ms=idle_ms))

    async def _unload(
        self, session_id: str, *, reason: str, by: str, idle_ms: int | None = None
    ) -> dict[str, Any]:
        row = self._row(session_id)
        if session_id in self._stopping:
            return self.session_json(row)
        self._stopping.add(session_id)
        try:
            answer = self.session_json(row)
            live = self.live.pop(session_id, None)
            if live is not None:
                await self._shutdown(live)
            elif row.pid and row.node in ("", self.node):
                await asyncio.to_thread(stop_tree, row.pid, started_at=row.pid_create_time)
            await asyncio.to_thread(self._forget, session_id)
            # Another node's kernel is not a process of this machine: its node is told, and
            # stops it now that the row is gone (its housekeeping would, within 2 s).
            await asyncio.to_thread(self.nodes.stopped_elsewhere, row)
        finally:
            self._stopping.discard(session_id)
        last_activity = answer["kernelLastActivityTime"]
        idle_seconds = (
            round((idle_ms if idle_ms is not None else now_ms() - last_activity) / 1000, 1)
            if last_activity
            else None
        )
        await asyncio.to_thread(
            record_unloaded, self.store, row, reason=reason, by=by, idle_seconds=idle_seconds
        )
        answer["unloaded"] = True
        return answer

    async def _shutdown(self, live: LiveKernel) -> None:
        if live.watcher is not None:
            live.watcher.cancel()
        if live.client is not None:
            live.client.stop_channels()
        try:
            await asyncio.wait_for(self.kernels.shutdown_kernel(live.kernel_id), 1.5)
        except Exception:  # noqa: BLE001 - the kill below stops it whatever happened here
            log.warning("kernel %s did not shut down cleanly", live.kernel_id, exc_info=True)
        await asyncio.to_thread(stop_tree, live.pid, started_at=live.create_time)
        with contextlib.suppress(KeyError):
            self.kernels.remove_kernel(live.kernel_id)

    def _forget(self, session_id: str) -> None:
        """Delete the row, revoke the key, remove the kernel's files (after its process is gone)."""
        live = self.live.pop(session_id, None)
        if live is not None and live.pid:
            stop_tree(live.pid, started_at=live.create_time)
        with self.store.begin() as s:
            row = s.get(JupyterSession, session_id)
            if row is None:
                return
            s.execute(delete(JupyterSession).where(JupyterSession.id == session_id))
            kernellogs.forget(s, session_id)
            if row.api_key_id:  # with the row, never after it: no ended session keeps a key
                s.execute(delete(ApiKey).where(ApiKey.id == row.api_key_id))
            kernel_id, paths = row.kernel_id, [row.connection_file, row.socket_dir]
            here = row.node in ("", self.node)  # another node's paths are of its machine
        if here:
            self.remove_local_files(paths, kernel_id=kernel_id)

    def remove_local_files(self, paths: list[str], *, kernel_id: str) -> None:
        remove_files(paths + [str(kernellogs.log_path(self.logs, kernel_id))])


def remove_files(paths: list[str]) -> None:
    import shutil

    for path in paths:
        if not path:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
