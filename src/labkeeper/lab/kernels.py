"""Lab's kernels are labkeeper's notebook sessions.

`LabKernelManager` is jupyter_server's own `AsyncMappingKernelManager` (its websocket
channels, buffering, activity tracking, interrupt and restart) over the very kernel map of
labkeeper's `SessionManager`: a kernel started from Lab is a session started through
`SessionManager.start_session` (rights, env `use`, impersonation, `maxSessionsPerUser`,
session key, idle culling, audit), and a session started through the API is a kernel Lab
can attach. Shutting a kernel down from Lab unloads its session; unloading it through the
API removes it from the shared map, so Lab sees it gone.

A request sees only its user's own sessions, and only while the API would let them run code
in it (WRITE on the project and `mayRunNotebooks`, as for a run in their own session): any
other kernel id is a 404, on the REST API and on the websocket alike. A session of this
user that another worker process runs is refused with a 409 saying so.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_server._tz import utcnow
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.services.sessions.sessionmanager import SessionManager
from tornado import web

from labkeeper.errors import LabkeeperError
from labkeeper.lab import calls, handlers
from labkeeper.lab.identity import SERVER_URL, UNSIGNED, current_principal, require_principal
from labkeeper.lab.paths import parse
from labkeeper.notebooks.jupyter import rights, service
from labkeeper.notebooks.jupyter.files import SUFFIX
from labkeeper.notebooks.jupyter.sessions import SessionManager as Sessions
from labkeeper.projects.access import require_project


class LabKernelSpecManager(KernelSpecManager):
    """labkeeper's kernelspecs, less the code envs the requesting user may not use."""

    sessions: Sessions | None = None  # set by lab/server.py

    def _usable(self) -> set[str] | None:
        principal = current_principal()
        if principal is None:
            return None
        if principal is UNSIGNED:
            return set()
        assert self.sessions is not None
        specs, _stamp = service.usable_kernelspecs(self.sessions, principal)
        return set(specs)

    def find_kernel_specs(self) -> dict[str, str]:
        assert self.sessions is not None
        found = self.sessions.specs.manager.find_kernel_specs()
        usable = self._usable()
        return {n: d for n, d in found.items() if usable is None or n in usable}

    def get_kernel_spec(self, kernel_name: str) -> Any:
        assert self.sessions is not None
        usable = self._usable()
        if usable is not None and kernel_name not in usable:
            raise NoSuchKernel(kernel_name)
        return self.sessions.specs.manager.get_kernel_spec(kernel_name)

    def get_all_specs(self) -> dict[str, Any]:
        assert self.sessions is not None
        every = self.sessions.specs.manager.get_all_specs()
        usable = self._usable()
        return {n: s for n, s in every.items() if usable is None or n in usable}


class LabChannelsConnection(ZMQChannelsWebsocketConnection):
    """Jupyter's websocket channels, bookkept by Lab's kernel manager (a kernel's own parent is
    labkeeper's session kernel map, which knows nothing of websockets)."""

    @property
    def multi_kernel_manager(self) -> Any:
        return self.websocket_handler.kernel_manager


class LabKernelManager(AsyncMappingKernelManager):
    sessions: Sessions

    def bind(self, sessions: Sessions) -> None:
        """Share the session manager's kernel map: one set of kernels, two doors."""
        self.sessions = sessions
        self._kernels = sessions.kernels._kernels

    # -- who sees what -------------------------------------------------------------------------
    def _session_row(self, kernel_id: str) -> Any:
        """The session of `kernel_id` if the requesting user may use it, else 404 (another user's
        kernel is never told apart from one that does not exist)."""
        principal = require_principal()
        row = self.sessions.row_of_kernel(kernel_id) if isinstance(kernel_id, str) else None
        if row is None or row.creator != principal.login:
            raise web.HTTPError(404, f"Kernel does not exist: {kernel_id}")
        try:  # what the API asks of a caller who runs code in their own session
            require_project(self.sessions.store, principal, row.project_key, "WRITE")
            rights.require_may_run(principal)
        except LabkeeperError as exc:
            raise calls.http_error(exc) from None
        if kernel_id not in self._kernels:
            raise web.HTTPError(
                409,
                f"Kernel {kernel_id} runs in another labkeeper worker process, which this connection did "
                "not reach: reload the page to try again, or unload the session and start a new one",
            )
        return row

    def _check_kernel_id(self, kernel_id: str) -> None:
        if current_principal() is None:  # labkeeper's own call, not a request
            if kernel_id not in self._kernels:
                raise web.HTTPError(404, f"Kernel does not exist: {kernel_id}")
            return
        self._session_row(kernel_id)

    def __contains__(self, kernel_id: object) -> bool:
        if current_principal() is None:
            return kernel_id in self._kernels
        try:
            self._session_row(kernel_id)  # type: ignore[arg-type]
        except web.HTTPError:
            return False
        return True

    def list_kernel_ids(self) -> list[str]:
        principal = current_principal()
        if principal is None:
            return list(self._kernels)
        if principal is UNSIGNED or principal.login is None:
            return []
        own = self.sessions.kernel_ids_of(principal.login)
        return [k for k in list(self._kernels) if k in own]

    def list_kernels(self) -> list[dict[str, Any]]:
        models = []
        for kernel_id in self.list_kernel_ids():
            try:
                models.append(self.kernel_model(kernel_id))
            except (web.HTTPError, KeyError):
                continue
        return models

    def kernel_model(self, kernel_id: str) -> dict[str, Any]:
        self._check_kernel_id(kernel_id)
        kernel = self._kernels[kernel_id]
        if getattr(kernel, "last_activity", None) is None:
            kernel.last_activity = utcnow()
        if not hasattr(kernel, "reason"):
            kernel.reason = ""
        return super().kernel_model(kernel_id)

    # -- starting, stopping, restarting --------------------------------------------------------
    async def start_kernel(
        self, *, kernel_id: str | None = None, path: str | None = None, **kwargs: Any
    ) -> str:
        principal = require_principal()
        if not isinstance(kwargs.get("kernel_name") or "", str) or not isinstance(kernel_id or "", str):
            raise web.HTTPError(400, "A kernel is named by a string")
        if kernel_id is not None and kernel_id in self._kernels:
            self._session_row(kernel_id)  # attach: only the user's own session
            return kernel_id
        where = parse(path or "")
        if where.notebook is None:
            raise web.HTTPError(
                400, "Lab starts kernels for project notebooks only: open a notebook of a project"
            )
        server_url = SERVER_URL.get() or "http://127.0.0.1:11200"

        def start() -> Any:
            return self.sessions.start_session(
                principal,
                where.project_key,
                where.notebook,
                server_url=server_url,
                kernel_name=kwargs.get("kernel_name") or None,
                here=True,  # its channels are this process's: never placed on another node
            )

        answer = await calls.change(self.sessions.store, principal, "start session", where.api_path, start)
        new_id = answer["kernelId"]
        kernel = self._kernels[new_id]
        kernel.reason = ""
        if getattr(kernel, "last_activity", None) is None:
            kernel.last_activity = utcnow()
        self._kernel_connections[new_id] = 0
        self._kernel_ports[new_id] = kernel.ports
        self.start_watching_activity(new_id)
        return new_id

    async def shutdown_kernel(self, kernel_id: str, now: bool = False, restart: bool = False) -> None:
        principal = require_principal()
        row = self._session_row(kernel_id)
        with_watch = getattr(self._kernels.get(kernel_id), "_activity_stream", None) is not None
        if with_watch:
            self.stop_watching_activity(kernel_id)
        self.stop_buffering(kernel_id)

        def unload() -> Any:
            return self.sessions.unload(row.id, reason="shut down from JupyterLab", by=principal.name)

        await calls.change(self.sessions.store, principal, "shut down kernel", kernel_id, unload)
        self._kernel_connections.pop(kernel_id, None)
        self._kernel_ports.pop(kernel_id, None)

    async def restart_kernel(self, kernel_id: str, now: bool = False) -> Any:
        principal = require_principal()
        row = self._session_row(kernel_id)
        outcome = "error"
        try:
            async with self.sessions.restarting(row.id):  # the session stays listed throughout
                future = await super().restart_kernel(kernel_id, now=now)
            outcome = "success"
        except LabkeeperError as exc:
            raise calls.http_error(exc) from None
        finally:
            await asyncio.to_thread(
                calls.audit, self.sessions.store, principal, "restart kernel", kernel_id, outcome
            )
        return future

    async def cleanup_resources(self, restart: bool = False) -> None:  # the sessions own them
        return None

    async def shutdown_all(self, now: bool = False) -> None:  # labkeeper stops its sessions itself
        return None


class LabSessionManager(SessionManager):
    """Jupyter's sessions, whose kernels start for the notebook they belong to: JupyterLab names
    a session `<folder>/<uuid>` with the notebook's file name apart, so the notebook is the
    file `name` in the folder of `path` (or `path` itself, for older clients).

    Jupyter keeps every user's sessions in one table and drops a row whose kernel the kernel
    manager does not contain, taking "not this user's" for "dead": another user's listing
    would delete this user's sessions. Here a row is dropped only when its kernel is gone for
    everyone, and a listing shows the requesting user's own sessions only (another user's is
    a 404, as its kernel is). Jupyter also holds one session per path: here one per path and
    user, so two users open the same notebook each with a kernel of their own."""

    async def get_session(self, **kwargs: Any) -> dict[str, Any]:
        if set(kwargs) != {"path"}:
            return await super().get_session(**kwargs)
        own = set(self.kernel_manager.list_kernel_ids())
        for row in self.cursor.execute("SELECT * FROM session WHERE path=?", (kwargs["path"],)).fetchall():
            if row["kernel_id"] in own:
                return await self.row_to_model(row)
        raise web.HTTPError(404, f"Session not found: path={kwargs['path']!r}")

    async def session_exists(self, path: str) -> bool:
        try:
            await self.get_session(path=path)
        except (web.HTTPError, KeyError):
            return False
        return True

    async def update_session(self, session_id: str, **kwargs: Any) -> None:
        """A session follows its notebook's renames, within its project: never elsewhere."""
        if "path" in kwargs:
            before = await self.get_session(session_id=session_id)  # another user's: 404
            where = parse(kwargs["path"] or "")
            row = await asyncio.to_thread(self.kernel_manager.sessions.row_of_kernel, before["kernel"]["id"])
            if where.notebook is None or row is None or where.project_key != row.project_key:
                raise web.HTTPError(400, "A Lab session stays with a notebook of its own project")
        await super().update_session(session_id, **kwargs)

    async def kernel_culled(self, kernel_id: str) -> bool:
        return kernel_id not in self.kernel_manager._kernels

    async def list_sessions(self) -> list[dict[str, Any]]:
        own = set(self.kernel_manager.list_kernel_ids())
        models = []
        for row in self.cursor.execute("SELECT * FROM session").fetchall():
            if row["kernel_id"] not in own and not await self.kernel_culled(row["kernel_id"]):
                continue  # another user's, alive: none of this caller's business
            try:
                models.append(await self.row_to_model(row))
            except (KeyError, web.HTTPError):
                continue
        return models

    async def start_kernel_for_session(
        self,
        session_id: str,
        path: str | None,
        name: str | None,
        type: str | None,
        kernel_name: str | None,
        kernel_id: str | None = None,
    ) -> str:
        notebook = path or ""
        if name and name.endswith(SUFFIX) and "/" not in name and not notebook.endswith(SUFFIX):
            folder = notebook.rsplit("/", 1)[0] if "/" in notebook else ""
            notebook = f"{folder}/{name}" if folder else name
        try:
            return await self.kernel_manager.start_kernel(
                path=notebook, kernel_name=kernel_name, kernel_id=kernel_id
            )
        except web.HTTPError as exc:
            if 400 <= exc.status_code < 500:
                handlers.KERNEL_REFUSAL.set(exc)  # lab/handlers.py: the refusal keeps its status
            raise
