"""Reading sessions: their JSON (true values from the kernel and the OS), listings, and the
lookups that decide who may stop or run in a session. Mixed into `SessionManager`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psutil
from sqlalchemy import bindparam, func, select

from labkeeper.auth.principal import Principal
from labkeeper.errors import Forbidden, NotFound
from labkeeper.isolation.processes import ProcessTree, process_tree, usage
from labkeeper.notebooks.jupyter import rights
from labkeeper.notebooks.jupyter.models import FAILED, RESTARTING, STARTING, JupyterSession
from labkeeper.projects.access import can, get_project_checked, require_project
from labkeeper.projects.models import Project

if TYPE_CHECKING:
    from labkeeper.config import Config
    from labkeeper.db import Store
    from labkeeper.notebooks.jupyter.kernels import KernelSpecs
    from labkeeper.notebooks.jupyter.starts import LiveKernel
    from labkeeper.notebooks.jupyter.storage import NotebookStorage


_TABLE = JupyterSession.__table__
# Built once: this is the hot path of every notebook listing.
_PROJECT_ACCESS = select(Project.owner, Project.permissions).where(Project.key == bindparam("key"))
_PROJECT_SESSIONS = (
    select(_TABLE).where(_TABLE.c.project_key == bindparam("key")).order_by(_TABLE.c.started_on)
)
_NOTEBOOK_SESSIONS = _PROJECT_SESSIONS.where(_TABLE.c.notebook_name == bindparam("name"))


class SessionQueries:
    store: Store
    config: Config
    live: dict[str, LiveKernel]
    specs: KernelSpecs
    notebooks: NotebookStorage
    node: str

    def _row(self, session_id: str) -> JupyterSession:
        with self.store.read() as s:
            row = s.get(JupyterSession, session_id)
        if row is None:
            raise NotFound(f"No running notebook session {session_id!r}")
        return row

    def session_json(
        self, row: Any, live: LiveKernel | None = None, *, tree: ProcessTree | None = None
    ) -> dict[str, Any]:
        live = live or self.live.get(row.id)
        if row.node not in ("", self.node):  # not a process of this machine: as its node reported
            used: tuple[int, float] | None = (row.rss_bytes, row.cpu_time)
        else:
            used = usage(row.pid, create_time=row.pid_create_time or None, tree=tree) if row.pid else None
        return {
            "projectKey": row.project_key,
            "notebookName": row.notebook_name,
            "sessionCreator": row.creator,
            "sessionCreatorDisplayName": row.creator_display_name,
            "sessionUnixOwner": row.unix_owner,
            "sessionId": row.id,
            "kernelId": row.kernel_id,
            "kernelName": row.kernel_name,
            "kernelPid": row.pid,
            "kernelConnections": live.connections if live else row.connections,
            "kernelLastActivityTime": live.last_activity_ms if live else row.last_activity_on,
            "kernelExecutionState": live.execution_state if live else row.execution_state,
            "sessionStartTime": row.started_on,
            "kernelMemoryRss": used[0] if used else 0,
            "kernelCpuTime": round(used[1], 3) if used else 0.0,
        }

    def sessions_of(
        self, project_key: str, notebook_name: str | None = None, *, principal: Principal | None = None
    ) -> list[dict[str, Any]]:
        """Live sessions of a project (or one notebook). With `principal`, READ is checked (by
        `access.can`, on the same connection: this is every listing's hot path) and the
        notebook must exist."""
        if notebook_name is None:
            statement, params = _PROJECT_SESSIONS, {"key": project_key}
        else:
            statement, params = _NOTEBOOK_SESSIONS, {"key": project_key, "name": notebook_name}
        with self.store.reader.connect() as conn:
            project = conn.execute(_PROJECT_ACCESS, {"key": project_key}).first() if principal else None
            rows = conn.execute(statement, params).all()
        if principal is not None:
            if project is None or not can(principal, project.owner, project.permissions or {}, "READ"):
                with self.store.read() as s:  # raises the refusal, worded in one place
                    get_project_checked(s, principal, project_key, "READ")
            if notebook_name is not None:
                if not self.notebooks.exists(project_key, notebook_name):
                    raise NotFound(f"Jupyter notebook {notebook_name!r} does not exist in {project_key}")
        return [self.session_json(r) for r in rows if self._is_live(r)]

    def check_readable(self, principal: Principal, project_key: str) -> None:
        """READ on the project, decided by `access.can` on one Core read (this is on the path of
        every listing call); a refusal is raised by `get_project_checked` with its message."""
        with self.store.reader.connect() as conn:
            row = conn.execute(_PROJECT_ACCESS, {"key": project_key}).first()
        if row is None or not can(principal, row.owner, row.permissions or {}, "READ"):
            with self.store.read() as s:
                get_project_checked(s, principal, project_key, "READ")

    def all_sessions(self) -> list[dict[str, Any]]:
        with self.store.read() as s:
            rows = list(s.scalars(select(JupyterSession).order_by(JupyterSession.started_on)))
        live = [r for r in rows if self._is_live(r)]
        tree = process_tree() if len(live) > 1 else None
        return [self.session_json(r, tree=tree) for r in live]

    def row_of_kernel(self, kernel_id: str) -> JupyterSession | None:
        """The session of a kernel id, whichever worker runs it (None when there is none)."""
        with self.store.read() as s:
            return s.scalar(select(JupyterSession).where(JupyterSession.kernel_id == kernel_id))

    def kernel_ids_of(self, login: str) -> set[str]:
        """The kernel ids of a user's sessions."""
        with self.store.read() as s:
            return set(s.scalars(select(JupyterSession.kernel_id).where(JupyterSession.creator == login)))

    def any_session_rows(self) -> bool:
        """Whether any session is recorded, live or not (no row: no live value to read)."""
        with self.store.raw_reader() as query:
            return bool(query("SELECT 1 FROM jupyter_sessions LIMIT 1"))

    def active_counts(self, project_key: str) -> dict[str, int]:
        with self.store.read() as s:
            rows = s.execute(
                select(JupyterSession.notebook_name, func.count())
                .where(JupyterSession.project_key == project_key)
                .group_by(JupyterSession.notebook_name)
            ).all()
        return {name: n for name, n in rows}

    def _is_live(self, row: Any) -> bool:
        if row.node not in ("", self.node):  # its node's rows are forgotten when it dies
            return row.state != FAILED
        if row.state in (STARTING, RESTARTING) or row.id in self.live:
            return True
        if not row.pid:
            return False
        try:
            proc = psutil.Process(row.pid)
            return (
                abs(proc.create_time() - row.pid_create_time) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.NoSuchProcess:
            return False

    def _row_of(self, project_key: str, notebook_name: str, session_id: str) -> JupyterSession:
        row = self._row(session_id)
        if row.project_key != project_key or row.notebook_name != notebook_name:
            raise NotFound(
                f"No running session {session_id!r} of notebook {notebook_name!r} in {project_key}"
            )
        return row

    def check_may_unload(
        self, principal: Principal, project_key: str, notebook_name: str, session_id: str
    ) -> None:
        """Its creator (with WRITE on the project) or a project admin may stop a session."""
        row = self._row_of(project_key, notebook_name, session_id)
        own = principal.login is not None and principal.login == row.creator
        require_project(self.store, principal, project_key, "WRITE" if own else "ADMIN")

    def session_for_run(
        self, principal: Principal, project_key: str, notebook_name: str, session_id: str | None
    ) -> str | None:
        """The session a run uses: the one named (it must be the caller's own: code in it runs
        as its creator), else the caller's newest on this notebook, else None (start one)."""
        require_project(self.store, principal, project_key, "WRITE")
        rights.require_may_run(principal)
        self.notebooks.read(project_key, notebook_name)
        if session_id is not None:
            row = self._row_of(project_key, notebook_name, session_id)
            if principal.login is None or row.creator != principal.login:
                raise Forbidden(
                    f"Session {session_id} belongs to {row.creator}: code runs in a session as its creator, "
                    "so only they may run cells in it",
                )
        else:
            mine = [
                s
                for s in self.sessions_of(project_key, notebook_name)
                if principal.login is not None and s["sessionCreator"] == principal.login
            ]
            if not mine:
                return None  # the caller starts one: start_session checks every right
            session_id = mine[-1]["sessionId"]
            row = self._row(session_id)
        # Rights may have been withdrawn since the session started: check them again.
        rights.require_code_right_in_session(principal, row)
        env_name = self.nodes.env_of_kernel(row.kernel_name)
        rights.require_env_use(self.store, principal, env_name, row.kernel_name)
        return session_id
