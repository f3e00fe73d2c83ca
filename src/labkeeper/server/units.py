"""State-changing requests: off the event loop, in one transaction with their audit row.

A write handler runs synchronous store and file work; on the event loop that would stall
every other request of the worker for as long as the write waits (on SQLite a `BEGIN
IMMEDIATE` may wait seconds for another process's write lock). So the request path
(server/dispatch.py) solves a write route's dependencies on the loop (the key check and
the stamps read), reads the body there, and then runs the handler on a thread of
`WriteUnits`, inside the request's unit of work (db/store.py: every `store.begin()` and
`store.read()` of that thread joins one transaction). Before the answer leaves, the audit
row is added to the same transaction and the whole commits once:

- an acknowledged change always has its audit row, and a request that fails (an error in
  the service, in the audit insert or at commit) leaves neither change nor row;
- a refusal (4xx) rolls the unit back and is audited by the request path in a transaction
  of its own, since nothing else was written; a server failure (5xx) leaves no row.

The handler's coroutine is driven on the thread without an event loop: it may await the
request body (already read) and nothing else. What needs the loop comes after the commit: a
task submitted in the unit starts once it is committed (`store.after_commit`), and a route
that must wait for a task, or stop one, answers `OnLoop` (server/responses.py), whose last
step runs on the loop before the answer is sent; the writes and the audit row are already
committed by then. A route that takes a component bound to the server's loop (the Jupyter
manager, whose kernel starts are the request itself; the streamed archive upload:
`loop_bound`) keeps the former way: on the loop, its store work on threads, a transaction
per service call, audited before the answer leaves; `dispatch.compile_table` lists which
routes those are.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.responses import Response
from starlette.types import Scope

from labkeeper.db import Store

AUDITED = "labkeeper.audited"  # scope key: the audit row went in with the request's own writes
IN_UNIT = "labkeeper.in_unit"  # scope key: the request ran in a unit of work

Audit = Callable[[Scope, int], None]
Handler = Callable[[], Coroutine[Any, Any, Response]]


class LoopAwaited(RuntimeError):
    """A handler run off the loop awaited something that needs the server's loop."""


def drive(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (it awaits only what is already there)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise LoopAwaited("a state-changing handler awaited the event loop; it must take a loop_bound component")


class WriteUnits:
    """The threads that run state-changing handlers, each in its request's unit of work."""

    def __init__(self, audit: Audit, *, threads: int = 16) -> None:
        self._audit = audit
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="labkeeper-write")

    async def run(self, store: Store, scope: Scope, handler: Handler) -> Response:
        scope[IN_UNIT] = True
        context = contextvars.copy_context()  # the request id and log fields go along
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, context.run, self._run, store, scope, handler)

    def _run(self, store: Store, scope: Scope, handler: Handler) -> Response:
        with store.unit() as unit:
            response: Response = drive(handler())
            if response.status_code >= 400:
                return response  # rolled back; the request path audits the refusal
            self._audit(scope, response.status_code)  # joins the unit: same transaction
            unit.commit()
        scope[AUDITED] = True
        return response

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
