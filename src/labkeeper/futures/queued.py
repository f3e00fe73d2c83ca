"""The runner of an instance on PostgreSQL: every task is a procrastinate job in the store.

Submitting records the task (the `tasks` row stays the whole truth the futures API reads)
and defers one job, `labkeeper.task`, whose only argument is the task id. Any node running
a procrastinate worker (`labkeeper worker`, or `labkeeper serve` without `--no-worker`)
picks it as soon as the insert's NOTIFY reaches it, marks the task as its own and executes
the operation locally, through the same machinery as the in-process runner (a thread or a
coroutine, processes in their own sessions).

Aborting asks procrastinate to abort the job: its NOTIFY reaches the worker running it,
which cancels the job's coroutine; the cancellation stops the operation and kills its
process trees on that node. The task is recorded as aborted at once, so the caller sees it.

A node that dies stops sending its procrastinate heartbeat. The periodic job
`labkeeper.reap-stalled`, run by whichever worker is alive, finds the jobs of workers whose
heartbeat is older than STALLED_AFTER_SECONDS and records their tasks as failed ("the node
running it stopped"), then runs the other domains' clean-ups (`on_node_death`: the notebook
sessions of dead nodes). Processes the dead node left running are killed when it starts again
(`recover_after_restart`, per host, as on one machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import procrastinate
from procrastinate.job_context import AbortReason, JobContext
from procrastinate.jobs import Status
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from labkeeper.db import Store, now_ms
from labkeeper.futures.inprocess import InProcessRunner, new_task
from labkeeper.futures.models import ABORTED, FAILED, RUNNING, Task
from labkeeper.futures.runner import OPERATIONS, Stop, Submission, TaskRunner

log = logging.getLogger("labkeeper.futures")

TASK_NAME = "labkeeper.task"
REAPER_NAME = "labkeeper.reap-stalled"
PURGE_NAME = "labkeeper.purge-futures"
PURGE_CRON = "17 * * * *"  # hourly: ended tasks past futures.retentionHours
QUEUE = "labkeeper"
HEARTBEAT_SECONDS = 3.0
STALLED_AFTER_SECONDS = 12.0
REAP_CRON = "* * * * * */3"  # every 3 s (croniter's sixth field is seconds)
NODE_STOPPED = "the node running it stopped"
SHUT_DOWN = "Interrupted: the server shut down"
POLL_SECONDS = 0.05


def conninfo(database_url: str) -> str:
    """libpq's form of the store's SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def node_queue(node: str) -> str:
    """The queue of the tasks only `node` may run (a notebook run reaches its kernel's node)."""
    return f"{QUEUE}.node.{node}"


class ProcrastinateRunner(TaskRunner):
    def __init__(
        self,
        store: Store,
        database_url: str,
        *,
        node: str,
        execute: bool = True,
        slots: int = 100,
        retention_hours: Callable[[], int] | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.node = node
        self.execute = execute
        self.slots = slots
        self.local = InProcessRunner(store, retention_hours=retention_hours, data_dir=data_dir)
        self.runner_id = self.local.runner_id
        info = conninfo(database_url)
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=info, max_size=4))
        self._register(self.app)
        # Submissions come from synchronous code (threads, or the event loop itself): they
        # defer through procrastinate's synchronous connector (an app of its own, knowing
        # no task: a task of `self.app` would defer through `self.app`'s async connector).
        self.sync_app = procrastinate.App(
            connector=procrastinate.SyncPsycopgConnector(conninfo=info, min_size=1, max_size=4)
        )
        self._worker: asyncio.Task | None = None
        self._node_death: list[Callable[[], object]] = []

    spans_nodes = True

    def on_node_death(self, callback: Callable[[], object]) -> None:
        self._node_death.append(callback)

    def node_job(self, name: str, handler: Callable[..., Awaitable[None]]) -> None:
        # Looked up by name when a job is picked: a job queued before its handler was registered
        # (this node was starting) fails as procrastinate's TaskNotFound, and its sender times out.
        self.app.task(name=name, queue=QUEUE)(handler)

    def send_to_node(self, node: str, name: str, **kwargs: str) -> None:
        self.sync_app.configure_task(name, queue=node_queue(node)).defer(**kwargs)

    # -- the jobs --------------------------------------------------------------------------
    def _register(self, app: procrastinate.App) -> None:
        @app.task(name=TASK_NAME, queue=QUEUE, pass_context=True)
        async def run_task(context: JobContext, task_id: str) -> None:
            await self._run(context, task_id)

        @app.periodic(cron=REAP_CRON, periodic_id="stalled")
        @app.task(name=REAPER_NAME, queue=QUEUE, queueing_lock=REAPER_NAME)
        async def reap_stalled(timestamp: int) -> None:
            await self.reap_stalled()

        @app.periodic(cron=PURGE_CRON, periodic_id="purge")
        @app.task(name=PURGE_NAME, queue=QUEUE, queueing_lock=PURGE_NAME)
        async def purge_expired(timestamp: int) -> None:
            await asyncio.to_thread(self.local.purge_expired)

    async def _run(self, context: JobContext, task_id: str) -> None:
        claimed = await asyncio.to_thread(self._claim, task_id, context.job.id)
        if claimed is None:  # aborted while queued, or purged
            return
        kind, args, owner = claimed
        if kind not in OPERATIONS:
            await asyncio.to_thread(self._fail, task_id, f"this node does not know the operation {kind!r}")
            return
        done = self.local.launch(task_id, kind, args, owner)
        try:
            await done.wait()
        except asyncio.CancelledError:
            if context.abort_reason() == AbortReason.SHUTDOWN:
                await self.local._stop_task(task_id, state=FAILED, error=SHUT_DOWN)
            else:
                by = await asyncio.to_thread(self._abort_requester, task_id)
                await self.local._stop_task(task_id, state=ABORTED, aborted_by=by)
            raise

    def _claim(self, task_id: str, job_id: int | None) -> tuple[str, dict[str, Any], str] | None:
        """Mark the task as run here, unless it ended already (aborted while queued)."""
        with self.store.begin() as s:
            task = s.get(Task, task_id, with_for_update=True)  # against a concurrent abort
            if task is None or task.state != RUNNING:
                return None
            task.runner_id, task.node, task.job_id = self.runner_id, self.node, job_id
            return task.kind, dict(task.args or {}), task.owner

    def _abort_requester(self, task_id: str) -> str:
        with self.store.read() as s:
            return s.scalar(select(Task.abort_requested_by).where(Task.id == task_id)) or ""

    def _fail(self, task_id: str, error: str) -> None:
        with self.store.begin() as s:
            s.execute(
                update(Task)
                .where(Task.id == task_id, Task.state == RUNNING)
                .values(state=FAILED, error=error, ended_on=now_ms())
            )

    async def reap_stalled(self) -> list[str]:
        """Fail the tasks of nodes whose procrastinate worker stopped beating; their ids."""
        stalled = await self.app.job_manager.get_stalled_jobs(
            task_name=TASK_NAME, seconds_since_heartbeat=STALLED_AFTER_SECONDS
        )
        failed = []
        for job in stalled:
            task_id = str(job.task_kwargs.get("task_id", ""))
            await asyncio.to_thread(self._fail, task_id, NODE_STOPPED)
            with contextlib.suppress(Exception):  # another reaper may have finished it first
                await self.app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
            failed.append(task_id)
        if failed:
            log.warning("tasks %s failed: %s", ", ".join(failed), NODE_STOPPED)
        for callback in list(self._node_death):
            try:
                await asyncio.to_thread(callback)
            except Exception:
                log.exception("cleaning up after dead nodes failed")
        return failed

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.local.attach()
        await asyncio.to_thread(self.local.recover_after_restart)
        await asyncio.to_thread(self.local.purge_expired)
        await asyncio.to_thread(self.sync_app.open)
        await self.app.open_async()
        if self.execute:
            self._worker = asyncio.create_task(
                self.app.run_worker_async(
                    name=self.node,
                    queues=[QUEUE, node_queue(self.node)],
                    concurrency=self.slots,
                    install_signal_handlers=False,
                    update_heartbeat_interval=HEARTBEAT_SECONDS,
                    stalled_worker_timeout=STALLED_AFTER_SECONDS,
                    abort_job_polling_interval=2.0,
                    delete_jobs="successful",
                ),
                name="procrastinate worker",
            )

    async def stop(self) -> None:
        # Stop what runs here first (recorded as interrupted, processes killed): the jobs then
        # end on their own and the worker leaves without waiting for them.
        await self.local.stop()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(BaseException):
                await self._worker
        await self.app.close_async()
        await asyncio.to_thread(self.sync_app.close)

    # -- submitting, aborting, waiting ------------------------------------------------------------
    def submit(self, submission: Submission) -> str:
        if submission.kind not in OPERATIONS:
            raise ValueError(f"no operation registered as {submission.kind!r}")
        task_id = secrets.token_hex(8)
        with self.store.begin() as s:
            s.add(new_task(task_id, submission))
        queue = node_queue(submission.node) if submission.node else QUEUE
        self.store.after_commit(lambda: self._defer(task_id, queue))
        return task_id

    def _defer(self, task_id: str, queue: str) -> None:
        """Queue the job of a task whose record is committed (blocking). A failure fails the
        task: its future says so, and no job is left to run it."""
        try:
            job_id = self.sync_app.configure_task(TASK_NAME, queue=queue).defer(task_id=task_id)
        except Exception:
            log.exception("task %s could not be queued", task_id)
            self._fail(task_id, "the task could not be queued")
            return
        log.debug("task %s is procrastinate job %s", task_id, job_id)

    def request_abort(self, task_id: str, *, by: str) -> Stop | None:
        # Recorded as aborted at once: a job not picked yet will find it so and not run.
        recorded = self._record_abort(task_id, by)
        if recorded is None:
            return None
        (job_id,) = recorded

        async def stop() -> None:
            if task_id in self.local._live:  # runs here: stop it now
                await self.local._stop_task(task_id, state=ABORTED, aborted_by=by)
            elif job_id is not None:  # picked: procrastinate's NOTIFY reaches the node that runs it
                await self.app.job_manager.cancel_job_by_id_async(job_id, abort=True)

        return stop

    def _record_abort(self, task_id: str, by: str) -> tuple[int | None] | None:
        """(its procrastinate job, None while not picked), or None when it is not running."""
        with self.store.begin() as s:
            task = s.get(Task, task_id, with_for_update=True)
            if task is None or task.state != RUNNING:
                return None
            task.abort_requested_by, task.aborted_by = by, by
            task.state, task.ended_on = ABORTED, now_ms()
            return (task.job_id,)

    async def wait(self, task_id: str, timeout: float | None = None) -> bool:
        return await self.local.wait(task_id, timeout)

    def running_here(self) -> int:
        return len(self.local._live)

    @property
    def _live(self) -> dict[str, Any]:
        """The tasks this node executes (the in-process runner's view, for tests and metrics)."""
        return self.local._live
