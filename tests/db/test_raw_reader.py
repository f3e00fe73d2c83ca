"""The hot-path reader sees every commit at once and recovers from a broken connection."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from labkeeper.db import Store, now_ms
from labkeeper.settings.models import Document
from tests.conftest import Instance

SQL = "SELECT version FROM documents WHERE name = :name"


def test_a_commit_elsewhere_is_seen_by_the_next_read(instance: Instance) -> None:
    store = instance.store
    with store.raw_reader() as query:
        assert query(SQL, {"name": "probe"}) == []
    other = Store(store.url)  # another process's view of the same store
    try:
        with other.begin() as s:
            s.add(Document(name="probe", body={}, version=7, updated_on=now_ms()))
        with store.raw_reader() as query:
            assert query(SQL, {"name": "probe"}) == [(7,)]
    finally:
        other.dispose()


def test_a_broken_connection_is_replaced(instance: Instance) -> None:
    async def on_the_loop() -> None:  # the kept connection is for event-loop threads
        store = instance.store
        with store.raw_reader() as query:
            query(SQL, {"name": "x"})
        dropped = store._hot.connection
        dropped.close()  # as if the database server had dropped it
        with store.raw_reader() as query:
            assert query(SQL, {"name": "x"}) == []
        assert store._hot.connection is not dropped

    asyncio.run(on_the_loop())


def test_threads_without_a_loop_borrow_from_the_pool(instance: Instance) -> None:
    store = instance.store
    with store.raw_reader() as query:
        assert query(SQL, {"name": "x"}) == []
    assert getattr(store._hot, "connection", None) is None


def test_requests_survive_the_database_dropping_every_connection(instance: Instance) -> None:
    """PostgreSQL restarted or an admin killed the sessions: the next request reconnects
    (the kept reader, the shared stamp reader and the pool alike)."""
    store = instance.store
    if store.is_sqlite:
        pytest.skip("SQLite has no server to drop connections; CI runs this on PostgreSQL")
    assert instance.admin.get("/admin/general-settings").status_code == 200
    assert instance.admin.get("/projects/").status_code == 200
    killer = sa.create_engine(store.url)
    try:
        with killer.connect() as conn:
            dropped = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar()
    finally:
        killer.dispose()
    assert dropped >= 2  # at least the kept reader and the shared stamp reader
    assert instance.admin.get("/admin/general-settings").status_code == 200
    assert instance.admin.get("/projects/").status_code == 200
    assert instance.admin.get("/admin/users/").status_code == 200
