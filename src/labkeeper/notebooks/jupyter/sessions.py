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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from sqlalchemy import delete, func, select, update

from labkeeper.auth.activity import note_session_start
from labkeeper.auth.key_service import create_session_key, delete_key
from labkeeper.auth.models import ApiKey, User
from labkeeper.auth.principal import Principal
from labkeeper.auth.service import groups_of
from labkeeper.codeenvs.usages import register_usage_provider
from labkeeper.config import Config
from labkeeper.db import Store, now_ms
from labkeeper.errors import Conflict, Forbidden, TooManyRequests
from labkeeper.isolation.identity import UnixIdentity, first_denied, kernel_identity
from labkeeper.isolation.layout import RunTree
from labkeeper.notebooks.jupyter import files, kernellogs, keylease, rights
from labkeeper.notebooks.jupyter.envusage import notebook_env_usages, notebook_files_stamp
from labkeeper.notebooks.jupyter.events import record_unloaded
from labkeeper.notebooks.jupyter.housekeeping import Housekeeping
from labkeeper.notebooks.jupyter.kernels import (
    MAX_IPC_PREFIX,
    KernelSpecs,
    LabkeeperKernelManager,
    LabkeeperMultiKernelManager,
    build_kernel_lib,
    kernel_env,
)
from labkeeper.notebooks.jupyter.models import RUNNING, STARTING, JupyterSession
from labkeeper.notebooks.jupyter.queries import SessionQueries
from labkeeper.notebooks.jupyter.remote import NodeKernels
from labkeeper.notebooks.jupyter.restart import Restarts
from labkeeper.notebooks.jupyter.runtime import builtin_python
from labkeeper.notebooks.jupyter.storage import storage_for
from labkeeper.processes import stop_tree
from labkeeper.projects.access import require_project
from labkeeper.settings.service import get_general_settings

log = logging.getLogger("labkeeper.jupyter")
START_TIMEOUT = 60.0
KEY_LABEL = "jupyter session "
_R, _W, _X = 4, 2, 1
# One manager per store: operations (which get only the store) find theirs here.
MANAGERS: dict[int, SessionManager] = {}


@dataclass
class LiveKernel:
    session_id: str
    kernel_id: str
    km: LabkeeperKernelManager
    pid: int
    create_time: float
    client: AsyncKernelClient | None = None
    watcher: asyncio.Task | None = None
    execution_state: str = "starting"
    last_activity_ms: int = 0
    connections: int = 0
    dirty: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def manager_for(store: Store) -> SessionManager:
    manager = MANAGERS.get(id(store))
    if manager is None:
        raise RuntimeError("the Jupyter component is not started")
    return manager


def _header_ms(msg: dict[str, Any]) -> int:
    date = (msg.get("header") or {}).get("date")
    return int(date.timestamp() * 1000) if hasattr(date, "timestamp") else now_ms()


@dataclass(frozen=True)
class _StartPlan:
    """A checked session start: its ids, whom it runs as, and the node that starts it ("": here)."""

    session_id: str
    kernel_id: str
    login: str
    ident: UnixIdentity
    kernel_name: str
    limit: int
    target: str
    env_name: str | None


class SessionManager(SessionQueries, Housekeeping, Restarts):
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

    # -- starting --------------------------------------------------------------------------
    async def start_session(
        self,
        principal: Principal,
        project_key: str,
        notebook_name: str,
        *,
        server_url: str,
        kernel_name: str | None = None,
        here: bool = False,
    ) -> dict[str, Any]:
        """Start a session of the notebook, for its kernelspec or for `kernel_name` (the kernel
        JupyterLab asks for), under the same rights either way; on the node placement picks,
        or on this one (`here`: JupyterLab, whose channels are this process's)."""
        return await self._home(
            self._start_session(
                principal,
                project_key,
                notebook_name,
                server_url=server_url,
                kernel_name=kernel_name,
                here=here,
            )
        )

    async def _start_session(
        self,
        principal: Principal,
        project_key: str,
        notebook_name: str,
        *,
        server_url: str,
        kernel_name: str | None = None,
        here: bool = False,
    ) -> dict[str, Any]:
        # Every check and record off the loop: a start waiting for the store's lock (or a
        # slow impersonation rule) stalls no other request of this worker.
        plan = await asyncio.to_thread(
            self._plan_start, principal, project_key, notebook_name, kernel_name, here
        )
        reservation = {
            "session_id": plan.session_id,
            "kernel_id": plan.kernel_id,
            "login": plan.login,
            "ident": plan.ident,
            "project_key": project_key,
            "notebook_name": notebook_name,
            "kernel_name": plan.kernel_name,
            "server_url": server_url,
            "limit": plan.limit,
        }
        if plan.target:  # another node's machine runs it (remote.py)
            return await self.nodes.start_there(plan.target, **reservation)
        await self.nodes.ensure_env(plan.env_name, owner=plan.login)  # built here first if need be
        spec, key_id, secret = await asyncio.to_thread(self._reserve_here, reservation)
        try:
            live = await self._launch(
                plan.session_id,
                plan.kernel_id,
                plan.kernel_name,
                spec,
                plan.ident,
                secret=secret,
                server_url=server_url,
                project_key=project_key,
                notebook_name=notebook_name,
            )
        except BaseException:
            await asyncio.to_thread(self._forget, plan.session_id)
            raise
        return self.session_json(await asyncio.to_thread(self._row, plan.session_id), live)

    def _plan_start(
        self, principal: Principal, project_key: str, notebook_name: str, kernel_name: str | None, here: bool
    ) -> _StartPlan:
        """Check every right of a start and pick its node (blocking: off the loop)."""
        if principal.login is None:
            raise Forbidden(
                "A notebook session acts as a user: this global API key names no user",
                detail=f"{principal.name} acts as no user. Start sessions with a personal API key, or a "
                "global key with dssUserForImpersonation",
            )
        login = principal.login
        require_project(self.store, principal, project_key, "WRITE")
        rights.require_may_run(principal)
        content = self.notebooks.read(project_key, notebook_name)
        kernel_name = kernel_name or files.kernel_spec_of(content)["name"]
        env_name = self.nodes.env_of_kernel(kernel_name)
        rights.require_env_use(self.store, principal, env_name, kernel_name)
        settings = get_general_settings(self.store)
        ident = kernel_identity(
            settings["impersonation"],
            login=login,
            groups=groups_of(self.store, login),
            project_key=project_key,
        )
        rights.require_code_right(principal, ident)
        return _StartPlan(
            session_id=secrets.token_hex(8),
            kernel_id=str(uuid.uuid4()),
            login=login,
            ident=ident,
            kernel_name=kernel_name,
            limit=int(settings["notebooks"].get("maxSessionsPerUser") or 0),
            target=self.nodes.target(kernel_name, project_key=project_key, here=here),
            env_name=env_name,
        )

    def _reserve_here(self, reservation: dict[str, Any]) -> tuple[Any, str, str]:
        """The kernelspec, and the session key of a session recorded to start on this node
        (blocking: off the loop)."""
        spec = self.specs.get(reservation["kernel_name"])
        key_id, secret = create_session_key(
            self.store,
            login=reservation["login"],
            label=f"{KEY_LABEL}{reservation['session_id']}",
            lifetime_ms=keylease.lease_ms(),
        )
        try:
            self._reserve(key_id=key_id, **reservation)
        except BaseException:
            delete_key(self.store, key_id)
            raise
        return spec, key_id, secret

    def _reserve(
        self,
        *,
        session_id: str,
        kernel_id: str,
        login: str,
        ident: UnixIdentity,
        key_id: str,
        project_key: str,
        notebook_name: str,
        kernel_name: str,
        server_url: str,
        limit: int,
        node: str = "",
    ) -> None:
        """Record the session (counted against the creator's quota); for `node` when another
        node starts its kernel (no worker yet: that node claims it)."""
        with self.store.begin() as s:
            user = s.get(User, login, with_for_update=True)  # serialises one user's starts
            running = s.scalar(select(func.count()).where(JupyterSession.creator == login)) or 0
            if limit > 0 and running >= limit:
                raise TooManyRequests(
                    f"User {login} already has {running} running notebook sessions, the most allowed "
                    f"(notebooks.maxSessionsPerUser = {limit})",
                    detail=f"User {login} already has {running} running notebook sessions and "
                    f"notebooks.maxSessionsPerUser is {limit}: unload one (DELETE "
                    ".../jupyter-notebooks/{name}/sessions/{sessionId}) or ask an admin to raise the limit",
                )
            s.add(
                JupyterSession(
                    id=session_id,
                    kernel_id=kernel_id,
                    project_key=project_key,
                    notebook_name=notebook_name,
                    kernel_name=kernel_name,
                    creator=login,
                    creator_display_name=(user.display_name if user else "") or login,
                    unix_owner=ident.name,
                    unix_uid=ident.uid,
                    state=STARTING,
                    pid=None,
                    pid_create_time=0.0,
                    worker_id="" if node else self.worker_id,
                    node=node or self.node,
                    api_key_id=key_id,
                    connection_file="" if node else str(self.tree.connection_file(kernel_id)),
                    server_url=server_url,
                    execution_state="starting",
                    connections=0,
                    started_on=now_ms(),
                    last_activity_on=0,
                )
            )
            note_session_start(s, login, now_ms())

    def _prepare_dirs(
        self, session_id: str, interpreter: str, ident: UnixIdentity, project_key: str
    ) -> tuple[Path, Path, Path]:
        if ident.impersonated:
            self.tree.seal(shared=self.tree.shared_roots(self.specs.interpreters()))
        home = self.tree.home(ident)
        work = self.tree.work_dir(project_key, ident)
        sockets = self.tree.socket_dir(session_id, ident)
        for path, want, what in (
            (work, _R | _W | _X, "its working directory"),
            (interpreter, _R | _X, "the kernel's interpreter"),
            (self.tree.kernel_lib / "dataiku" / "__init__.py", _R, "labkeeper's kernel library"),
        ):
            denied = first_denied(path, ident, want)
            if denied:
                raise Conflict(
                    f"UNIX user {ident.name} cannot reach {what} ({path}): {denied} is closed to it",
                    detail=f"The kernel would run as UNIX user {ident.name}, which cannot use {path} because "
                    f"{denied} is not open to it. Install labkeeper, its data directory's parent folders and "
                    "code envs where every impersonated account can traverse and read them",
                )
        with self.store.begin() as s:
            s.execute(
                update(JupyterSession)
                .where(JupyterSession.id == session_id)
                .values(work_dir=str(work), socket_dir=str(sockets))
            )
        return home, work, sockets

    async def _launch(
        self,
        session_id: str,
        kernel_id: str,
        kernel_name: str,
        spec: Any,
        ident: UnixIdentity,
        *,
        secret: str,
        server_url: str,
        project_key: str,
        notebook_name: str,
    ) -> LiveKernel:
        interpreter = spec.argv[0]
        home, work, sockets = await asyncio.to_thread(
            self._prepare_dirs, session_id, interpreter, ident, project_key
        )
        env = kernel_env(
            ident=ident,
            interpreter=interpreter,
            home=home,
            kernel_lib=self.tree.kernel_lib,
            server_url=server_url,
            api_key=secret,
            project_key=project_key,
            notebook_name=notebook_name,
            session_id=session_id,
            spec_env=spec.env,
        )
        prefix = str(sockets / "k")
        if len(prefix) > MAX_IPC_PREFIX:
            raise Conflict(
                f"Kernel sockets would live at {prefix}, a path too long for a UNIX socket",
                detail=f"The kernel's IPC socket prefix {prefix} is over {MAX_IPC_PREFIX} characters. "
                "labkeeper "
                "never falls back to TCP (any local account could connect); shorten TMPDIR or run as root "
                "(sockets then live under /run/labkeeper)",
            )
        log_path = kernellogs.log_path(self.logs, kernel_id)
        await self.kernels.start_kernel(
            kernel_name=kernel_name,
            kernel_id=kernel_id,
            env=env,
            cwd=str(work),
            run_as=ident,
            ipc_prefix=prefix,
            log_path=log_path,
        )
        km: LabkeeperKernelManager = self.kernels.get_kernel(kernel_id)
        pid = km.provisioner.pid  # type: ignore[union-attr]
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            create_time = 0.0
        live = LiveKernel(session_id=session_id, kernel_id=kernel_id, km=km, pid=pid, create_time=create_time)
        live.extra["socket_dir"] = str(sockets)
        self.live[session_id] = live
        with self.store.begin() as s:
            s.execute(
                update(JupyterSession)
                .where(JupyterSession.id == session_id)
                .values(pid=pid, pid_create_time=create_time)
            )
        client = km.client()
        client.start_channels()
        # The watcher needs only the kernel's own topics (status): outputs (topics `stream.*`,
        # `display_data`, `execute_result`) are then filtered by the kernel and never copied here.
        client.iopub_channel.socket.setsockopt(zmq.UNSUBSCRIBE, b"")
        client.iopub_channel.socket.setsockopt(zmq.SUBSCRIBE, b"kernel.")
        live.client = client
        try:
            await client.wait_for_ready(timeout=START_TIMEOUT)
        except (RuntimeError, TimeoutError) as exc:
            output = kernellogs.masked(log_path.read_text(errors="replace")[-2000:]).strip()
            raise Conflict(
                f"The kernel {spec.display_name!r} did not start: {exc}",
                detail=f"The kernel {spec.display_name!r} ({' '.join(spec.argv[:3])}) did not start: {exc}. "
                f"Its output:\n{output or '(none)'}",
            ) from None
        live.execution_state, live.last_activity_ms = "idle", now_ms()
        km.execution_state = "idle"
        live.watcher = asyncio.create_task(self._watch(live))
        with self.store.begin() as s:
            s.execute(
                update(JupyterSession)
                .where(JupyterSession.id == session_id)
                .values(state=RUNNING, execution_state="idle", last_activity_on=live.last_activity_ms)
            )
        live.dirty = False
        return live

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
