"""Reads shared by the requests that had already arrived when they were made.

Under load a server's event loop starts many requests in a row, each in a task of its own.
A read that only has to be no older than the request's arrival (the store's change stamps,
the stat of the files a kept answer was read from) can be made once for all of them: a
value read by a task is reused by the tasks that run before a callback scheduled with
`call_soon` at the moment of the read. The loop runs callbacks in the order they were
scheduled, so such a task was scheduled before the read, hence its request had arrived
before it, and everything written before that request arrived is in the value.

A task that reads the same thing again gets a new read (a caller that sends requests one
after the other in one task, as a test does, reads for each), and so does every task
scheduled after the read. Outside an event loop every call reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class LoopBatch:
    """Values read once per batch of ready tasks, by key (see the module docstring)."""

    def __init__(self) -> None:
        self._batches: dict[Any, dict[Hashable, tuple[Any, asyncio.Task[Any]]]] = {}

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running event loop
            task = None
        if task is None:
            return read()
        loop = task.get_loop()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = {}
            loop.call_soon(self._batches.pop, loop, None)
        else:
            made = batch.get(key)
            if made is not None and made[1] is not task:
                return made[0]
        value = read()
        batch[key] = (value, task)
        return value

    def clear(self) -> None:
        self._batches.clear()
