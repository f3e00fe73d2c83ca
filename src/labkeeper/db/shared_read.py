"""One read shared by every request that is waiting for it, on a server's event loop.

Every request must see data at least as new as the moment it arrived (a key revoked before
the request was sent must fail). Over a network round trip, reading once per request and
blocking the event loop for it caps a worker at one request per round trip. Here at most
one read is in flight per event loop; the requests that arrive meanwhile wait together for
the next read, which starts after all of them arrived, so each still gets data read after
it arrived while the database sees one read per round trip, however many requests wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    """`await read()` returns the result of a `fetch()` that started after the call did."""

    def __init__(self, fetch: Callable[[], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._waiting: list[asyncio.Future[T]] = []  # callers for the read that starts next
        self._pump: asyncio.Task[None] | None = None

    async def read(self) -> T:
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run())
        return await waiter  # a cancelled caller cancels its own waiter, not the read

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []  # later callers wait for the next read
            try:
                result = await self._fetch()
            except asyncio.CancelledError:  # the loop is shutting down
                for waiter in batch:
                    waiter.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - handed to every caller of this read
                for waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in batch:
                if not waiter.done():
                    waiter.set_result(result)
