"""PostgreSQL's change-stamp reader (db/store.py `_AsyncReader`): right values, and a read cut
short, failed or answered with an error never leaves its connection to the next read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import psycopg
import pytest
import uvloop

from labkeeper.db import Store
from labkeeper.db.store import _AsyncReader
from tests.conftest import Instance


@pytest.fixture
def store(instance: Instance) -> Store:
    if instance.store.is_sqlite:
        pytest.skip("PostgreSQL's reader: SQLite reads the stamps on the loop's own connection")
    return instance.store


def with_reader(store: Store, body: Callable[[_AsyncReader], Awaitable[None]]) -> None:
    """Run `body` with a new reader of `store` on a uvloop loop, and close the reader."""

    async def scenario() -> None:
        reader = _AsyncReader(store.engine.url.set(drivername="postgresql"))
        try:
            await body(reader)
        finally:
            reader.close()

    uvloop.run(scenario())


def backend_pid(reader: _AsyncReader) -> int:
    return reader._connection.pgconn.backend_pid  # noqa: SLF001


def write(store: Store) -> None:
    """What every write's trigger does on PostgreSQL (db/stamps.py): a delta row of its topic."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO change_stamp_deltas (topic) VALUES ('data')")


def test_reads_the_stamps_the_store_reads_and_sees_each_write(store: Store) -> None:
    async def scenario(reader: _AsyncReader) -> None:
        first = await reader.stamps()
        assert first == store.stamps()
        write(store)
        second = await reader.stamps()
        assert second == store.stamps() and second != first
        assert await reader.stamps() == second  # the same connection, the prepared statement reused

    with_reader(store, scenario)


def test_a_read_cut_short_closes_its_connection(store: Store) -> None:
    async def scenario(reader: _AsyncReader) -> None:
        await reader.stamps()
        before = backend_pid(reader)
        with store.engine.connect() as conn:  # hold the read: the stamps' rows are locked
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("LOCK TABLE change_stamps IN ACCESS EXCLUSIVE MODE")
            read = asyncio.create_task(reader.stamps())
            await asyncio.sleep(0.2)
            assert not read.done()
            read.cancel()
            with pytest.raises(asyncio.CancelledError):
                await read
            assert reader._connection is None  # noqa: SLF001 - its answer will never be read
            conn.exec_driver_sql("ROLLBACK")
        assert await reader.stamps() == store.stamps()
        assert backend_pid(reader) != before

    with_reader(store, scenario)


def test_an_error_answer_is_raised_and_the_next_read_starts_afresh(store: Store) -> None:
    async def scenario(reader: _AsyncReader) -> None:
        await reader.stamps()
        # What a pooler resetting the session does: the prepared statement is gone.
        await reader._connection.execute("DEALLOCATE ALL")  # noqa: SLF001
        with pytest.raises(psycopg.errors.InvalidSqlStatementName):
            await reader.stamps()
        assert await reader.stamps() == store.stamps()

    with_reader(store, scenario)


def test_a_terminated_backend_is_replaced_within_the_read(store: Store) -> None:
    async def scenario(reader: _AsyncReader) -> None:
        await reader.stamps()
        with store.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({backend_pid(reader)})")
        await asyncio.sleep(0.1)
        assert await reader.stamps() == store.stamps()  # once more, on a new connection

    with_reader(store, scenario)
