"""Starting a notebook session: its rights checked, its node picked, its records made, and
its kernel launched and watched. Mixed into `SessionManager` (sessions.py).

The checks and records run on a thread (a start waiting for the store's lock, or a slow
impersonation rule, stalls no other request of the worker); the kernel's launch alone runs
on the loop, and a start placed on another node is handed to it (remote.py).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from sqlalchemy import func, select, update

from labkeeper.auth.activity import note_session_start
from labkeeper.auth.key_service import create_session_key, delete_key
from labkeeper.auth.models import User
from labkeeper.auth.principal import Principal
from labkeeper.auth.service import groups_of
from labkeeper.db import now_ms
from labkeeper.errors import Conflict, Forbidden, TooManyRequests
from labkeeper.isolation.identity import UnixIdentity, first_denied, kernel_identity
from labkeeper.notebooks.jupyter import files, kernellogs, keylease, rights
from labkeeper.notebooks.jupyter.kernels import MAX_IPC_PREFIX, LabkeeperKernelManager, kernel_env
from labkeeper.notebooks.jupyter.models import RUNNING, STARTING, JupyterSession
from labkeeper.projects.access import require_project
from labkeeper.settings.service import get_general_settings

if TYPE_CHECKING:
    from labkeeper.config import Config
    from labkeeper.db import Store
    from labkeeper.isolation.layout import RunTree
    from labkeeper.notebooks.jupyter.kernels import KernelSpecs, LabkeeperMultiKernelManager
    from labkeeper.notebooks.jupyter.remote import NodeKernels
    from labkeeper.notebooks.jupyter.storage import NotebookStorage

START_TIMEOUT = 60.0
KEY_LABEL = "jupyter session "
_R, _W, _X = 4, 2, 1


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


class Starts:
    store: Store
    config: Config
    node: str
    worker_id: str
    tree: RunTree
    specs: KernelSpecs
    kernels: LabkeeperMultiKernelManager
    nodes: NodeKernels
    notebooks: NotebookStorage
    logs: Path
    live: dict[str, LiveKernel]

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
        await asyncio.to_thread(self._record_kernel, session_id, pid=pid, pid_create_time=create_time)
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
        await asyncio.to_thread(
            self._record_kernel,
            session_id,
            state=RUNNING,
            execution_state="idle",
            last_activity_on=live.last_activity_ms,
        )
        # After the record: the watcher's own writes of the kernel's state come later.
        live.watcher = asyncio.create_task(self._watch(live))  # type: ignore[attr-defined]
        live.dirty = False
        return live

    def _record_kernel(self, session_id: str, **values: Any) -> None:
        with self.store.begin() as s:
            s.execute(update(JupyterSession).where(JupyterSession.id == session_id).values(**values))
