"""One read for every request waiting at the same time, and never a read older than the
request that gets it."""

from __future__ import annotations

import asyncio

import pytest

from labkeeper.db.shared_read import SharedRead


class Source:
    """A value that callers change; each fetch returns it and can be held in flight."""

    def __init__(self) -> None:
        self.value = 0
        self.fetches = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None
        self.started = asyncio.Event()

    async def fetch(self) -> int:
        self.fetches += 1
        seen = self.value  # the state when the read reached the database
        self.started.set()
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return seen


def test_callers_waiting_together_share_one_read_made_after_they_came() -> None:
    async def scenario() -> None:
        source = Source()
        shared = SharedRead(source.fetch)
        source.gate.clear()
        first = asyncio.create_task(shared.read())
        await source.started.wait()  # the first read is in flight, holding value 0
        source.value = 1  # e.g. a key revoked while it is in flight
        later = [asyncio.create_task(shared.read()) for _ in range(20)]
        await asyncio.sleep(0)
        source.gate.set()
        assert await first == 0
        assert await asyncio.gather(*later) == [1] * 20  # never the read that began before them
        assert source.fetches == 2

    asyncio.run(scenario())


def test_a_failed_read_fails_its_callers_and_the_next_read_works() -> None:
    async def scenario() -> None:
        source = Source()
        shared = SharedRead(source.fetch)
        source.fail = ConnectionError("down")
        results = await asyncio.gather(shared.read(), shared.read(), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        source.fail = None
        source.value = 5
        assert await shared.read() == 5

    asyncio.run(scenario())


def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    async def scenario() -> None:
        source = Source()
        shared = SharedRead(source.fetch)
        source.gate.clear()
        leaving = asyncio.create_task(shared.read())
        staying = asyncio.create_task(shared.read())
        await source.started.wait()
        leaving.cancel()
        source.value = 3
        source.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        assert await staying == 0  # both came before the read began: it is theirs
        assert await shared.read() == 3

    asyncio.run(scenario())
