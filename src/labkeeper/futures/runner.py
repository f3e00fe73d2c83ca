"""The task runner interface every long operation in labkeeper goes through.

An operation is a function registered by name with `@operation("kind")`. It receives a
`TaskContext` and JSON-able `args` (ids and names, never ORM objects), so that a runner can
execute it anywhere: in the server's process (`InProcessRunner`, on SQLite) or on any worker
node (`ProcrastinateRunner`, on PostgreSQL), without the operation changing. Operations may be plain
functions (run in a thread) or coroutine functions (run on the event loop).

Inside an operation:
- `ctx.progress([("Installing packages", 3, 15)])` reports named steps;
- `ctx.popen(...)` / `ctx.run(...)` start processes in their own session, recorded so an
  abort (or a restart) kills their whole tree;
- `ctx.on_abort(callback)` registers extra abort work (cancel a SQL query, interrupt a
  kernel); `ctx.should_abort()` / `ctx.check_abort()` poll for an abort.
The return value (a dict, or None) becomes the future's result; an exception its error
(`OperationError`: its message; `InputRefused`: its message, answered as a 400).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Operation = Callable[..., Any]
Stop = Callable[[], Awaitable[None]]
OPERATIONS: dict[str, Operation] = {}


def operation(kind: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        if kind in OPERATIONS and OPERATIONS[kind] is not fn:
            raise ValueError(f"operation {kind!r} registered twice")
        OPERATIONS[kind] = fn
        return fn

    return register


class TaskAborted(Exception):
    """Raised inside an operation once its task has been aborted."""


class OperationError(Exception):
    """An operation's own failure, with a message meant for the user."""


class InputRefused(OperationError):
    """The operation refused its caller's input, found only while it ran (a policy, a
    validation): the task fails as with any OperationError, but its future answers a 400
    (BadRequestException) rather than a 500, as the same refusal made up front would."""


@dataclass
class Submission:
    kind: str
    args: dict[str, Any]
    owner: str
    target: dict[str, Any] = field(default_factory=dict)
    display_name: str = ""
    is_scenario: bool = False
    # A node that must run it (its kernel lives there); "" for any node.
    node: str = ""


class TaskContext(abc.ABC):
    task_id: str
    args: dict[str, Any]
    owner: str
    store: Any  # the runner's Store, for operations that read or write records
    # The data directory of the node that runs the task (every node has its own).
    data_dir: Path | None = None
    # Why the runner itself stopped the task (e.g. the server shut down), "" otherwise.
    stop_error: str = ""

    @abc.abstractmethod
    def should_abort(self) -> bool: ...

    def check_abort(self) -> None:
        if self.should_abort():
            raise TaskAborted(self.task_id)

    @abc.abstractmethod
    def progress(self, steps: Sequence[tuple[str, int | None, int | None]]) -> None:
        """Steps as (name, current, total); None for an unknown amount."""

    @abc.abstractmethod
    def popen(self, args: Sequence[str], **kwargs: Any) -> Any:
        """Start a process in its own session; it is killed (with its tree) on abort."""

    @abc.abstractmethod
    def run(
        self, args: Sequence[str], *, on_line: Callable[[str], None] | None = None, **kwargs: Any
    ) -> tuple[int, str]:
        """Run a process to completion, streaming merged stdout/stderr lines to `on_line`;
        returns (exit code, whole output). Raises TaskAborted if the task was aborted."""

    @abc.abstractmethod
    def on_abort(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when the task is aborted; returns a function that unregisters it."""


class TaskRunner(abc.ABC):
    """Starts, aborts and waits for tasks. The store holds every task's state."""

    @abc.abstractmethod
    def submit(self, submission: Submission) -> str:
        """Record the task as running (blocking: off the event loop) and start it once that
        is committed (in a request's unit of work: with the request); return its id."""

    @abc.abstractmethod
    def request_abort(self, task_id: str, *, by: str) -> Stop | None:
        """Record a running task as aborted by `by`, in the caller's transaction (blocking:
        off the event loop; in a request's unit of work, with its audit row). Returns the
        stop of its work, to await on the event loop once that is committed (within a
        second, wherever the task runs), or None when the task is not running."""

    async def abort(self, task_id: str, *, by: str) -> None:
        """Record the task as aborted by `by` and stop its work, within a second."""
        stop = await asyncio.to_thread(self.request_abort, task_id, by=by)
        if stop is not None:
            await stop()

    @abc.abstractmethod
    async def wait(self, task_id: str, timeout: float | None = None) -> bool:
        """Wait until the task has ended; False if `timeout` passed first."""

    # Whether other nodes may run work for this one (node jobs below); False on one machine.
    spans_nodes: bool = False

    def node_job(self, name: str, handler: Callable[..., Awaitable[None]]) -> None:
        """Register `handler(**kwargs)` as the job `name`, run on the node it is sent to."""
        raise NotImplementedError("this runner has one node: no job is sent to another")

    def send_to_node(self, node: str, name: str, **kwargs: str) -> None:
        """Queue the job `name` for `node` alone (blocking: call it off the event loop). The
        arguments are plain strings the job re-checks against the store: never a handle."""
        raise NotImplementedError("this runner has one node: no job is sent to another")

    def on_node_death(self, callback: Callable[[], object]) -> None:
        """Have `callback` (blocking, idempotent) run now and then on a live node, to clean up
        what dead nodes left in the store. A single-node runner has no other node: no-op."""
        return None

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...
