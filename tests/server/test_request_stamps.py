"""On SQLite, one read of the change stamps serves every request that had arrived before it
(db/store.py, `Store._sqlite_batch_stamps`), never one that arrived after it."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from labkeeper.db.stamps import DATA
from tests.conftest import Instance


def write_elsewhere(instance: Instance) -> None:
    """A write committed by another process (here: another connection)."""
    engine = sa.create_engine(instance.store.url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE change_stamps SET value = value + 1 WHERE topic = 'data'")
    finally:
        engine.dispose()


@pytest.fixture
def store(instance: Instance):  # type: ignore[no-untyped-def]
    if not instance.store.is_sqlite:
        pytest.skip("SQLite only (PostgreSQL shares reads through db/shared_read.py)")
    return instance.store


def test_a_read_is_shared_only_with_requests_that_arrived_before_it(instance: Instance, store) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> dict[str, dict[str, int]]:
        seen: dict[str, dict[str, int]] = {}
        later: list[asyncio.Task] = []

        async def request(name: str) -> None:
            seen[name] = await store.request_stamps()

        async def request_then_write(name: str) -> None:
            await request(name)
            write_elsewhere(instance)  # committed before the next request arrives
            later.append(asyncio.create_task(request("after the write")))

        # Both arrived before the first one's read.
        await asyncio.gather(
            asyncio.create_task(request_then_write("first")), asyncio.create_task(request("second"))
        )
        await later[0]
        return seen

    seen = instance.portal.call(scenario)
    assert seen["second"] == seen["first"]
    assert seen["after the write"][DATA] == seen["first"][DATA] + 1


def test_requests_one_after_the_other_in_one_task_each_read(instance: Instance, store) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> tuple[dict[str, int], dict[str, int]]:
        before = await store.request_stamps()
        write_elsewhere(instance)
        return before, await store.request_stamps()

    before, after = instance.portal.call(scenario)
    assert after[DATA] == before[DATA] + 1


def test_a_removed_database_file_is_seen_by_the_next_request(instance: Instance, store) -> None:  # type: ignore[no-untyped-def]
    from labkeeper.db.health import StoreUnavailable

    database = instance.config.data_dir / "labkeeper.db"
    away = database.with_name("labkeeper.db.away")

    async def scenario() -> str:
        async def request_then_remove() -> asyncio.Task:
            await store.request_stamps()
            database.rename(away)
            return asyncio.create_task(store.request_stamps())  # arrives after the removal

        task = await asyncio.create_task(request_then_remove())
        try:
            await task
        except StoreUnavailable as exc:
            return exc.reason
        finally:
            away.rename(database)
        return "answered"

    assert "missing" in instance.portal.call(scenario)
