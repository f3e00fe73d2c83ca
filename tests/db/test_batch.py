"""Reads shared by the requests that had arrived when they were made (db/batch.py)."""

from __future__ import annotations

import asyncio

from labkeeper.db.batch import LoopBatch


class Counter:
    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.reads


def test_tasks_ready_together_share_one_read() -> None:
    batch, read = LoopBatch(), Counter()

    async def request() -> int:
        return batch.get("k", read)

    async def main() -> list[int]:
        return list(await asyncio.gather(*(request() for _ in range(5))))

    assert asyncio.run(main()) == [1] * 5 and read.reads == 1


def test_a_task_scheduled_after_the_read_reads_again() -> None:
    batch, read = LoopBatch(), Counter()

    async def request() -> int:
        return batch.get("k", read)

    async def main() -> tuple[int, int]:
        first = await asyncio.create_task(request())
        later = await asyncio.create_task(request())  # created once the first read was made
        return first, later

    assert asyncio.run(main()) == (1, 2)


def test_the_reading_task_reads_again_and_keys_are_apart() -> None:
    batch, read, other = LoopBatch(), Counter(), Counter()

    async def main() -> list[int]:
        return [batch.get("k", read), batch.get("k", read), batch.get("o", other)]

    assert asyncio.run(main()) == [1, 2, 1]


def test_outside_an_event_loop_every_call_reads() -> None:
    batch, read = LoopBatch(), Counter()
    assert [batch.get("k", read) for _ in range(3)] == [1, 2, 3]
