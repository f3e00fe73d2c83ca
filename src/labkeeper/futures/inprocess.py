"""The runner that executes tasks inside the server process.

Plain operations run in a thread of their own, coroutine operations on the event loop;
their processes run in their own sessions. An abort kills those process trees, runs the
operation's abort callbacks and records the task as aborted, all within a second. Aborts
asked of another worker process are seen through the store, polled every 100 ms.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from labkeeper.db import Store, now_ms
from labkeeper.futures.models import ABORTED, DONE, FAILED, INPUT_REFUSED, RUNNING, Task
from labkeeper.futures.runner import (
    OPERATIONS,
    InputRefused,
    OperationError,
    Stop,
    Submission,
    TaskAborted,
    TaskContext,
    TaskRunner,
)
from labkeeper.processes import identity, pid_alive, stop_tree

log = logging.getLogger("labkeeper.futures")
POLL_SECONDS = 0.1
PROGRESS_INTERVAL = 0.2


class _Context(TaskContext):
    def __init__(self, runner: InProcessRunner, task_id: str, args: dict[str, Any], owner: str) -> None:
        self.task_id = task_id
        self.args = args
        self.owner = owner
        self.store = runner.store
        self.data_dir = runner.data_dir
        self._runner = runner
        self._aborted = threading.Event()
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []
        self._callbacks: list[Callable[[], None]] = []
        self._last_progress = 0.0
        self._last_names: list[str] = []
        self.stopped_by = ""
        self.stop_state = ABORTED
        self.stop_error = ""
        self.error_kind = ""  # set by _classify: see Task.error_kind

    def should_abort(self) -> bool:
        return self._aborted.is_set()

    def progress(self, steps: Sequence[tuple[str, int | None, int | None]]) -> None:
        now = time.monotonic()
        names = [name for name, _, _ in steps]
        # Counts within the same steps are throttled; a new step is always shown.
        if now - self._last_progress < PROGRESS_INTERVAL and names == self._last_names:
            return
        self._last_progress, self._last_names = now, names
        states = [
            {"name": name, "cur": cur or 0, "target": total or 0, "unknown": total is None}
            for name, cur, total in steps
        ]
        self._runner._update(self.task_id, progress={"states": states})

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        kwargs.setdefault("start_new_session", True)
        with self._lock:
            self.check_abort()
            proc = subprocess.Popen(list(args), **kwargs)  # noqa: S603 - argv list, no shell
            self._procs.append(proc)
        self._runner._record_process(self.task_id, proc.pid)
        return proc

    def run(
        self, args: Sequence[str], *, on_line: Callable[[str], None] | None = None, **kwargs: Any
    ) -> tuple[int, str]:
        proc = self.popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            **kwargs,
        )
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line)
        code = proc.wait()
        self.check_abort()
        return code, "".join(lines)

    def on_abort(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._callbacks.append(callback)

        def unregister() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unregister

    def abort_now(self, *, state: str = ABORTED, by: str = "", error: str = "") -> None:
        """Stop everything this task started. Safe to call from any thread, more than once."""
        with self._lock:
            if not self._aborted.is_set():
                self.stop_state, self.stopped_by, self.stop_error = state, by, error
            self._aborted.set()
            procs, callbacks = list(self._procs), list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("abort callback of task %s failed", self.task_id)
        for proc in procs:
            if proc.poll() is None:
                stop_tree(proc.pid)
            proc.poll()


@dataclass
class _Live:
    context: _Context
    done: asyncio.Event
    cancel: Callable[[], Any] | None = None
    thread: threading.Thread | None = field(default=None)


class InProcessRunner(TaskRunner):
    def __init__(
        self,
        store: Store,
        *,
        retention_hours: Callable[[], int] | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.runner_id = new_runner_id()
        self._live: dict[str, _Live] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task | None = None
        self._retention_hours = retention_hours or (lambda: 168)

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self.attach()
        await asyncio.to_thread(self.recover_after_restart)
        await asyncio.to_thread(self.purge_expired)
        self._poller = asyncio.create_task(self._poll_abort_requests())

    def attach(self) -> None:
        """Bind to the running event loop, where coroutine operations run."""
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        for task_id in list(self._live):
            await self._stop_task(task_id, state=FAILED, error="Interrupted: the server shut down")

    def recover_after_restart(self) -> None:
        """Fail every task whose runner process on this host is gone, killing its processes."""
        host = socket.gethostname()
        with self.store.begin() as s:
            rows = s.scalars(select(Task).where(Task.state == RUNNING)).all()
            for task in rows:
                runner_host, _, rest = task.runner_id.partition(":")
                runner_pid = int(rest.partition(":")[0] or 0)
                if runner_host != host or (runner_pid != os.getpid() and pid_alive(runner_pid)):
                    continue
                for pid, ctime in task.processes or []:
                    stop_tree(int(pid), started_at=float(ctime) or None)
                task.state = FAILED
                task.error = "Interrupted by a restart of the server"
                task.ended_on = now_ms()

    def purge_expired(self) -> None:
        cutoff = now_ms() - self._retention_hours() * 3_600_000
        with self.store.begin() as s:
            for task in s.scalars(select(Task).where(Task.state != RUNNING, Task.ended_on < cutoff)):
                s.delete(task)

    # -- submitting and running ------------------------------------------------------
    def submit(self, submission: Submission) -> str:
        if submission.kind not in OPERATIONS:
            raise ValueError(f"no operation registered as {submission.kind!r}")
        assert self._loop is not None, "runner not started"
        task_id = secrets.token_hex(8)
        with self.store.begin() as s:
            s.add(new_task(task_id, submission, runner_id=self.runner_id))
        args = (task_id, submission.kind, submission.args, submission.owner)
        self.store.after_commit(lambda: self._launch_on_loop(*args))
        return task_id

    def _launch_on_loop(self, task_id: str, kind: str, args: dict[str, Any], owner: str) -> None:
        assert self._loop is not None
        if _running_loop() is self._loop:
            self.launch(task_id, kind, args, owner)
        else:  # committed on a request's thread: launched on the runner's loop, in order
            self._loop.call_soon_threadsafe(self.launch, task_id, kind, args, owner)

    def launch(self, task_id: str, kind: str, args: dict[str, Any], owner: str) -> asyncio.Event:
        """Run the operation of a task already recorded as running; the event is set once it ended.
        The procrastinate runner executes the jobs a worker node picks through this."""
        fn = OPERATIONS[kind]
        assert self._loop is not None, "runner not started"
        context = _Context(self, task_id, args, owner)
        live = _Live(context=context, done=asyncio.Event())
        self._live[task_id] = live
        if asyncio.iscoroutinefunction(fn):
            coroutine = self._run_coroutine(fn, context)
            if _running_loop() is self._loop:
                live.cancel = self._loop.create_task(coroutine).cancel
            else:  # submitted from another thread (a thread operation, a test)
                live.cancel = asyncio.run_coroutine_threadsafe(coroutine, self._loop).cancel
        else:
            live.thread = threading.Thread(
                target=self._run_thread, args=(fn, context), name=f"task-{task_id}", daemon=True
            )
            live.thread.start()
        return live.done

    def _run_thread(self, fn: Callable[..., Any], context: _Context) -> None:
        state, result, error = self._outcome(lambda: fn(context, context.args), context)
        self._finish(context, state, result, error)
        assert self._loop is not None
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._forget, context.task_id)

    async def _run_coroutine(self, fn: Callable[..., Any], context: _Context) -> None:
        try:
            result = await fn(context, context.args)
            state, error = DONE, ""
        except asyncio.CancelledError:
            state, result, error = ABORTED, None, ""
        except Exception as exc:  # noqa: BLE001 - any failure becomes the task's error
            state, result, error = self._classify(exc, context)
        await asyncio.to_thread(self._finish, context, state, result, error)
        self._forget(context.task_id)

    def _outcome(self, call: Callable[[], Any], context: _Context) -> tuple[str, Any, str]:
        try:
            return DONE, call(), ""
        except Exception as exc:  # noqa: BLE001
            return self._classify(exc, context)

    @staticmethod
    def _classify(exc: Exception, context: _Context) -> tuple[str, Any, str]:
        if isinstance(exc, TaskAborted) or context.should_abort():
            return ABORTED, None, ""
        if isinstance(exc, OperationError):
            context.error_kind = INPUT_REFUSED if isinstance(exc, InputRefused) else ""
            return FAILED, None, str(exc)
        log.error("task %s failed:\n%s", context.task_id, traceback.format_exc())
        return FAILED, None, f"{type(exc).__name__}: {exc}"

    def _forget(self, task_id: str) -> None:
        live = self._live.pop(task_id, None)
        if live is not None:
            live.done.set()

    # -- store updates -------------------------------------------------------------------
    def _update(self, task_id: str, **values: Any) -> None:
        with self.store.begin() as s:
            s.execute(update(Task).where(Task.id == task_id, Task.state == RUNNING).values(**values))

    def _finish(self, context: _Context, state: str, result: Any, error: str) -> None:
        if state == ABORTED:  # stopped from outside: record why, as the stopper asked
            state, error = context.stop_state, context.stop_error
        values: dict[str, Any] = {"state": state, "ended_on": now_ms(), "error": error}
        if state == FAILED:
            values["error_kind"] = context.error_kind
        if state == ABORTED:
            values["aborted_by"] = context.stopped_by
        if state == DONE:
            values["result"] = result if isinstance(result, dict) else {"value": result}
            values["progress"] = {"states": []}
        self._update(context.task_id, **values)

    def _record_process(self, task_id: str, pid: int) -> None:
        with self.store.begin() as s:
            task = s.get(Task, task_id)
            if task is not None:
                task.processes = [*(task.processes or []), identity(pid)]

    # -- aborting and waiting ------------------------------------------------------------------
    def request_abort(self, task_id: str, *, by: str) -> Stop | None:
        with self.store.begin() as s:
            task = s.get(Task, task_id, with_for_update=True)  # against its own finish
            if task is None or task.state != RUNNING:
                return None
            task.abort_requested_by, task.aborted_by = by, by  # the other worker's poll sees it
            task.state, task.ended_on = ABORTED, now_ms()
            processes = list(task.processes or [])

        async def stop() -> None:
            if task_id in self._live:
                await self._stop_task(task_id, state=ABORTED, aborted_by=by)
                return
            # Running in another worker of this machine: its poll stops the operation, and
            # its processes are stopped here at once, before that worker notices.
            for pid, ctime in processes:
                await asyncio.to_thread(stop_tree, int(pid), started_at=float(ctime) or None)

        return stop

    async def _stop_task(self, task_id: str, *, state: str, aborted_by: str = "", error: str = "") -> None:
        live = self._live.get(task_id)
        if live is None:
            return
        await asyncio.to_thread(live.context.abort_now, state=state, by=aborted_by, error=error)
        if live.cancel is not None:
            live.cancel()
        await asyncio.to_thread(
            self._update, task_id, state=state, aborted_by=aborted_by, error=error, ended_on=now_ms()
        )

    async def wait(self, task_id: str, timeout: float | None = None) -> bool:
        if self._loop is not None and _running_loop() is not self._loop:
            # Awaited from another event loop (a test client's): wait on the runner's own.
            waiting = asyncio.run_coroutine_threadsafe(self.wait(task_id, timeout), self._loop)
            return await asyncio.wrap_future(waiting)
        live = self._live.get(task_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        if live is not None and _running_loop() is self._loop:
            try:
                await asyncio.wait_for(live.done.wait(), timeout)
            except TimeoutError:
                return False
            return True
        while True:  # a task of another worker (or a caller on another loop): poll the store
            state = await asyncio.to_thread(self._state_of, task_id)
            if state != RUNNING:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)

    async def _poll_abort_requests(self) -> None:
        last_purge = time.monotonic()
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                if self._live:  # the read off the loop: a round trip every POLL_SECONDS
                    requested = await asyncio.to_thread(self._abort_requests)
                    for task_id, by in requested:
                        if task_id in self._live:
                            await self._stop_task(task_id, state=ABORTED, aborted_by=by)
                if time.monotonic() - last_purge > 3600:
                    last_purge = time.monotonic()
                    await asyncio.to_thread(self.purge_expired)
            except Exception:
                log.exception("abort poller iteration failed")

    def _state_of(self, task_id: str) -> str | None:
        with self.store.read() as s:
            return s.scalar(select(Task.state).where(Task.id == task_id))

    def _abort_requests(self) -> list[tuple[str, str]]:
        with self.store.read() as s:
            return [
                (task_id, by)
                for task_id, by in s.execute(
                    select(Task.id, Task.abort_requested_by).where(
                        Task.runner_id == self.runner_id, Task.abort_requested_by != ""
                    )
                )
            ]


def new_runner_id() -> str:
    """host:pid:nonce, so that a later start on the same host knows whether its runner lives."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def new_task(task_id: str, submission: Submission, *, runner_id: str = "") -> Task:
    return Task(
        id=task_id,
        kind=submission.kind,
        owner=submission.owner,
        state=RUNNING,
        is_scenario=submission.is_scenario,
        display_name=submission.display_name,
        target=submission.target,
        args=submission.args,
        progress={"states": []},
        runner_id=runner_id,
        started_on=now_ms(),
    )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
