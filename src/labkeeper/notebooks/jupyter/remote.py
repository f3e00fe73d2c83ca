"""Kernels on other nodes: placed by the API node, started, stopped and interrupted by theirs.

On one machine (SQLite, or one node) nothing here runs: every kernel is this process's.
With a runner that spans nodes (procrastinate on PostgreSQL), a session start goes to the
node `placement.choose_node` picks. When that is another node:

1. The API node checks everything as for a local start (project rights, code env use,
   impersonation, quota counted in the store) and reserves the session's row for that node,
   with no worker and no key.
2. It queues the job `labkeeper.kernel-start` on the node's own queue, with the session id
   only. The node claims the row (its node, still STARTING, unclaimed: a job naming any other
   session does nothing), works out the UNIX account again from the store (it must be the
   one the API node checked), creates the session key there (its secret never leaves that
   machine but in the kernel's environment), and starts the kernel as on one machine.
3. The API node polls the row until the kernel is idle (RUNNING), failed (FAILED, with the
   error the node recorded), or no answer came in time: 504, and the row is deleted (a node
   that takes the job later finds nothing to claim, or stops the kernel when it sees its row
   gone).

Unloading on any node deletes the row and the key at once (as on one machine), then queues
`labkeeper.kernel-stop` for the kernel's node, which stops a kernel only when its row is gone:
a job cannot stop a session still recorded. `labkeeper.kernel-interrupt` interrupts a
kernel whose row still names that node. The node running kernels reports their memory and
CPU into their rows every REPORT_SECONDS (one statement), which any API node answers from;
execution states and activity are written by housekeeping as on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import bindparam, delete, update

from labkeeper.auth.key_service import create_session_key
from labkeeper.auth.models import ApiKey
from labkeeper.auth.service import groups_of
from labkeeper.codeenvs import nodebuilds
from labkeeper.codeenvs.kernelspecs import KERNEL_PREFIX
from labkeeper.errors import BadRequest, Conflict, Forbidden, LabkeeperError, NoAnswer, NotFound
from labkeeper.futures.runner import TaskRunner
from labkeeper.isolation.identity import UnixIdentity, kernel_identity
from labkeeper.isolation.processes import usage
from labkeeper.nodes.service import placeable
from labkeeper.notebooks.jupyter import keylease, placement
from labkeeper.notebooks.jupyter.models import FAILED, RUNNING, STARTING, JupyterSession
from labkeeper.settings.service import get_general_settings

if TYPE_CHECKING:
    from labkeeper.notebooks.jupyter.sessions import SessionManager

log = logging.getLogger("labkeeper.jupyter")
START_JOB = "labkeeper.kernel-start"
STOP_JOB = "labkeeper.kernel-stop"
INTERRUPT_JOB = "labkeeper.kernel-interrupt"
PICK_SECONDS = 15.0  # a node claims a start within this, or the API node answers 504
POLL_SECONDS = 0.05
REPORT_SECONDS = 2.0
_ERRORS: dict[int, type[LabkeeperError]] = {400: BadRequest, 403: Forbidden, 404: NotFound}


def _error_json(exc: BaseException) -> str:
    if isinstance(exc, LabkeeperError):
        return orjson.dumps({"status": exc.status, "message": exc.message, "detail": exc.detail}).decode()
    message = f"The kernel could not start: {type(exc).__name__}"
    return orjson.dumps({"status": 409, "message": message, "detail": message}).decode()


def _error_of(text: str, node: str) -> LabkeeperError:
    try:
        found = orjson.loads(text)
        cls = _ERRORS.get(int(found["status"]), Conflict)
        return cls(str(found["message"]), detail=str(found.get("detail") or found["message"]))
    except (ValueError, KeyError, TypeError):
        return Conflict(f"The kernel did not start on node {node}")


class NodeKernels:
    """The part of a SessionManager that deals with kernels of other nodes."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.runner: TaskRunner | None = None
        self._reporter: asyncio.Task | None = None
        self._ready = False  # the manager has started (its recovery of leftovers is done)

    @property
    def spans_nodes(self) -> bool:
        return self.runner is not None and self.runner.spans_nodes

    def attach(self, runner: TaskRunner) -> None:
        """Register this node's kernel jobs with the runner (before the manager starts)."""
        self.runner = runner
        if runner.spans_nodes:
            runner.node_job(START_JOB, self._start_job)
            runner.node_job(STOP_JOB, self._stop_job)
            runner.node_job(INTERRUPT_JOB, self._interrupt_job)

    async def start(self, *, background: bool) -> None:
        self._ready = True
        if self.spans_nodes and background:
            self._reporter = asyncio.create_task(self._report_loop())

    async def stop(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter

    # -- on the API node ---------------------------------------------------------------------
    def env_of_kernel(self, kernel: str) -> str | None:
        """The code env of a kernel (None: the built-in one), known here or reported by the
        nodes that have it; a 400 when no node has it (blocking)."""
        m = self.manager
        if self.spans_nodes:  # a code env's kernel, built on each node on first use
            env = nodebuilds.env_of_kernel(m.store, kernel)
            if env is not None:
                return env
        try:
            return m.specs.code_env_of(kernel)
        except BadRequest:
            if not self.spans_nodes:
                raise
            for node in placeable(m.store):
                if kernel.lower() in (node.kernels or {}):
                    return node.kernels[kernel.lower()] or None
            raise

    def target(self, kernel: str, *, project_key: str, here: bool = False) -> str:
        """The node a new `kernel` of the project starts on: "" for this one (blocking).
        `here`: it must start on this node (JupyterLab's), which must carry the project's label."""
        m = self.manager
        label = placement.project_label(m.store, project_key)
        if here or not self.spans_nodes:
            placement.require_label_here(m.store, here=m.node, label=label, project_key=project_key)
            return ""
        anywhere = nodebuilds.env_of_kernel(m.store, kernel) is not None
        executes = "worker" in m.config.role and (anywhere or kernel.lower() in m.specs.kernel_envs())
        node = placement.choose_node(
            m.store,
            here=m.node,
            executes_here=executes,
            kernel=kernel,
            anywhere=anywhere,
            label=label,
            project_key=project_key,
        )
        return "" if node == m.node else node

    async def ensure_env(self, env_name: str | None, *, owner: str) -> None:
        """Build the code env on this node first when it lacks it (several nodes only)."""
        if env_name is None or not self.spans_nodes:
            return
        assert self.runner is not None
        m = self.manager
        config = m.config
        await nodebuilds.ensure_built(
            m.store,
            self.runner,
            node=m.node,
            data_dir=config.data_dir,
            env_name=env_name,
            owner=owner,
            takes_jobs=config.embedded_worker or not config.serves_api,  # as futures/component.py
        )

    async def start_there(self, node: str, *, session_id: str, **reservation: Any) -> dict[str, Any]:
        """Reserve the session for `node`, ask it to start the kernel, wait until it is idle."""
        assert self.runner is not None
        m = self.manager
        await asyncio.to_thread(m._reserve, session_id=session_id, key_id="", node=node, **reservation)
        try:
            await asyncio.to_thread(self.runner.send_to_node, node, START_JOB, session_id=session_id)
            row = await self._wait_started(node, session_id)
        except BaseException:
            left = await asyncio.to_thread(self._row, session_id)
            await asyncio.to_thread(m._forget, session_id)
            if left is not None:  # a kernel started late stops now rather than at housekeeping
                await asyncio.to_thread(self.stopped_elsewhere, left)
            raise
        return m.session_json(row)

    def _row(self, session_id: str) -> JupyterSession | None:
        with self.manager.store.read() as s:
            return s.get(JupyterSession, session_id)

    async def _wait_started(self, node: str, session_id: str) -> JupyterSession:
        from labkeeper.notebooks.jupyter.starts import START_TIMEOUT

        asked = time.monotonic()
        while True:
            row = await asyncio.to_thread(self._row, session_id)
            waited = time.monotonic() - asked
            if row is None:
                raise Conflict(f"Session {session_id} was unloaded while its kernel was starting on {node}")
            if row.state == RUNNING:
                return row
            if row.state == FAILED:
                raise _error_of(row.start_error, node)
            if (not row.worker_id and waited > PICK_SECONDS) or waited > PICK_SECONDS + START_TIMEOUT + (
                nodebuilds.BUILD_TIMEOUT if row.kernel_name.startswith(KERNEL_PREFIX) else 0
            ):
                raise NoAnswer(
                    f"Node {node} did not start the kernel in time",
                    detail=f"The kernel was placed on node {node}, which did not "
                    f"{'take the start' if not row.worker_id else 'report it idle'} within "
                    f"{waited:.0f} s. Check that node (GET /admin/nodes, its log) and start the session "
                    "again",
                )
            await asyncio.sleep(POLL_SECONDS)

    def stopped_elsewhere(self, row: Any) -> None:
        """Tell the node of a session just unloaded here to stop its kernel (blocking)."""
        if self.spans_nodes and row.node and row.node != self.manager.node:
            assert self.runner is not None
            try:
                self.runner.send_to_node(row.node, STOP_JOB, session_id=row.id)
            except Exception:  # noqa: BLE001 - its housekeeping stops it all the same, within 2 s
                log.warning("could not queue the stop of session %s on %s", row.id, row.node, exc_info=True)

    async def interrupt(self, session_id: str) -> dict[str, Any]:
        """Interrupt the session's kernel (SIGINT, as Jupyter does), wherever it runs."""
        m = self.manager
        row = m._row(session_id)
        if row.node in ("", m.node):
            await m._home(self._interrupt_here(row))
        elif self.spans_nodes:
            assert self.runner is not None
            await asyncio.to_thread(self.runner.send_to_node, row.node, INTERRUPT_JOB, session_id=session_id)
        return m.session_json(row)

    # -- on the kernel's node (procrastinate jobs) ---------------------------------------------
    async def _started(self) -> None:
        """Wait for the manager to start: its jobs are registered before (the runner takes
        none it has no handler for), and one may be picked while this node still starts; a
        session claimed before the manager's recovery ran would look like a leftover to it."""
        waited = 0.0
        while not self._ready:
            if waited > PICK_SECONDS:
                raise RuntimeError("the session manager of this node did not start")
            await asyncio.sleep(POLL_SECONDS)
            waited += POLL_SECONDS

    async def _start_job(self, session_id: str) -> None:
        await self._started()
        await self.manager._home(self._start_reserved(str(session_id)))

    async def _stop_job(self, session_id: str) -> None:
        await self._started()
        await self.manager._home(self._stop_unrecorded(str(session_id)))

    async def _interrupt_job(self, session_id: str) -> None:
        await self._started()
        row = await asyncio.to_thread(self._row, str(session_id))
        if row is not None and row.node == self.manager.node:
            await self.manager._home(self._interrupt_here(row))

    async def _interrupt_here(self, row: JupyterSession) -> None:
        live = self.manager.live.get(row.id)
        if live is not None:
            await live.km.interrupt_kernel()
        elif row.pid and usage(row.pid, create_time=row.pid_create_time or None) is not None:
            # Another worker process of this machine runs it: a signal, as Jupyter's interrupt.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(row.pid, signal.SIGINT)

    def _claim(self, session_id: str) -> JupyterSession | None:
        """Take a session reserved for this node and not taken yet; None for any other."""
        m = self.manager
        with m.store.begin() as s:
            row = s.get(JupyterSession, session_id, with_for_update=True)
            if row is None or row.node != m.node or row.state != STARTING or row.worker_id:
                return None
            row.worker_id = m.worker_id
            row.connection_file = str(m.tree.connection_file(row.kernel_id))
            s.flush()
            return row

    def _identity(self, row: JupyterSession) -> UnixIdentity:
        """The account the kernel runs as, worked out here from the store again."""
        store = self.manager.store
        ident = kernel_identity(
            get_general_settings(store)["impersonation"],
            login=row.creator,
            groups=groups_of(store, row.creator),
            project_key=row.project_key,
        )
        if ident.name != row.unix_owner:
            raise Conflict(
                f"The kernel would run as {ident.name}, not {row.unix_owner} as checked when asked for",
                detail="The impersonation rules changed while the session started: start it again",
            )
        return ident

    def _record_key(self, session_id: str, key_id: str) -> bool:
        with self.manager.store.begin() as s:
            done = s.execute(
                update(JupyterSession)
                .where(JupyterSession.id == session_id, JupyterSession.state == STARTING)
                .values(api_key_id=key_id)
            )
            if not done.rowcount:  # unloaded meanwhile: no key outlives its session
                s.execute(delete(ApiKey).where(ApiKey.id == key_id))
            return bool(done.rowcount)

    async def _start_reserved(self, session_id: str) -> None:
        from labkeeper.notebooks.jupyter.starts import KEY_LABEL

        m = self.manager
        row = await asyncio.to_thread(self._claim, session_id)
        if row is None:
            return
        try:
            ident = await asyncio.to_thread(self._identity, row)
            env_name = await asyncio.to_thread(nodebuilds.env_of_kernel, m.store, row.kernel_name)
            await self.ensure_env(env_name, owner=row.creator)
            spec = m.specs.get(row.kernel_name)
            key_id, secret = await asyncio.to_thread(
                create_session_key,
                m.store,
                login=row.creator,
                label=f"{KEY_LABEL}{session_id}",
                lifetime_ms=keylease.lease_ms(),
            )
            if not await asyncio.to_thread(self._record_key, session_id, key_id):
                return
            await m._launch(
                session_id,
                row.kernel_id,
                row.kernel_name,
                spec,
                ident,
                secret=secret,
                server_url=row.server_url,
                project_key=row.project_key,
                notebook_name=row.notebook_name,
            )
            await self.report()
        except BaseException as exc:
            await self._failed(session_id, exc)
            if not isinstance(exc, Exception):
                raise
            log.info("kernel of session %s did not start: %s", session_id, exc)

    async def _failed(self, session_id: str, exc: BaseException) -> None:
        """Stop what started, record why for the API node that waits, revoke the key."""
        m = self.manager
        live = m.live.pop(session_id, None)
        if live is not None:
            await m._shutdown(live)

        def record() -> None:
            with m.store.begin() as s:
                row = s.get(JupyterSession, session_id, with_for_update=True)
                if row is None:
                    return
                if row.api_key_id:
                    s.execute(delete(ApiKey).where(ApiKey.id == row.api_key_id))
                row.state, row.start_error, row.api_key_id = FAILED, _error_json(exc), ""
                paths = [row.connection_file, row.socket_dir]
            m.remove_local_files(paths, kernel_id=row.kernel_id)

        await asyncio.to_thread(record)

    async def _stop_unrecorded(self, session_id: str) -> None:
        """Stop the kernel of a session unloaded by another node (its row is gone)."""
        m = self.manager
        live = m.live.get(session_id)
        if live is None or session_id in m._stopping:
            return
        if await asyncio.to_thread(self._row, session_id) is not None:
            return  # still recorded: not unloaded, whatever the job says
        if m.live.pop(session_id, None) is None:
            return
        await m._shutdown(live)
        paths = [str(m.tree.connection_file(live.kernel_id)), live.extra.get("socket_dir", "")]
        await asyncio.to_thread(m.remove_local_files, paths, kernel_id=live.kernel_id)

    # -- reporting ------------------------------------------------------------------------------
    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(REPORT_SECONDS)
            try:
                await self.report()
            except Exception:  # noqa: BLE001 - the store may be down: the next round retries
                log.debug("kernel report failed", exc_info=True)

    async def report(self) -> None:
        """Write the memory and CPU of this node's kernels into their rows."""
        kernels = [(live.session_id, live.pid, live.create_time) for live in self.manager.live.values()]
        if kernels:
            await asyncio.to_thread(self._write_usage, kernels)

    def _write_usage(self, kernels: list[tuple[str, int, float]]) -> None:
        values = []
        for session_id, pid, create_time in kernels:
            used = usage(pid, create_time=create_time or None)
            if used is not None:
                values.append({"sid": session_id, "rss": used[0], "cpu": round(used[1], 3)})
        if not values:
            return
        table = JupyterSession.__table__
        statement = (
            table.update()
            .where(table.c.id == bindparam("sid"))
            .values(rss_bytes=bindparam("rss"), cpu_time=bindparam("cpu"))
        )
        with self.manager.store.begin() as s:
            s.connection().execute(statement, values)
