"""PostgreSQL: concurrent writers do not queue on a change stamp row, and a stamp moves
exactly when the write becomes visible (db/stamps.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from labkeeper.db.stamps import DATA, PROJECTS
from tests.conftest import Instance

INSERT = (
    "INSERT INTO projects (key, name, owner, metadata_doc, settings, permissions, variables_standard,"
    " variables_local, created_on, created_by, modified_on, modified_by, version, folder_id)"
    " VALUES (:key, :key, 'admin', '{}', '{}', '{}', '{}', '{}', 0, 'admin', 0, 'admin', 1, 'ROOT')"
)
AUDIT = (
    'INSERT INTO audit_events (time, "user", api_key_id, action, target, outcome, details, request_id)'
    " VALUES (0, '', '', 'a', '', 'b', '{}', '')"
)


def test_two_writers_do_not_wait_for_each_other(instance: Instance) -> None:
    store = instance.store
    if store.is_sqlite:
        pytest.skip("SQLite has one writer at a time by design")
    before = store.stamps()
    with store.engine.connect() as first, store.engine.connect() as second:
        first.execute(text(INSERT), {"key": "FIRST"})  # open, not committed
        first.execute(text(AUDIT))
        second.execute(text("SET lock_timeout = '1s'"))
        second.execute(text(INSERT), {"key": "SECOND"})
        second.execute(text(AUDIT))
        second.commit()  # before the first: no row lock of the first holds it
        middle = store.stamps()
        assert middle.get(PROJECTS, 0) > before.get(PROJECTS, 0) and middle.get(DATA, 0) > before.get(DATA, 0)
        first.commit()
    after = store.stamps()
    assert after.get(PROJECTS, 0) > middle.get(PROJECTS, 0) and after.get(DATA, 0) > middle.get(DATA, 0)


def test_an_uncommitted_write_does_not_move_a_stamp_and_folding_keeps_values(instance: Instance) -> None:
    store = instance.store
    if store.is_sqlite:
        pytest.skip("PostgreSQL's delta rows")
    before = store.stamps()
    with store.engine.connect() as writer:
        writer.execute(text(INSERT), {"key": "PENDING"})
        assert store.stamps() == before  # not visible yet: the stamp has not moved either
        writer.rollback()
    assert store.stamps() == before  # rolled back: nothing to see, no move
    instance.admin.post("/projects/", json={"projectKey": "FOLD", "name": "x"})
    moved = store.stamps()
    store.fold_stamp_deltas()
    assert store.stamps() == moved
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM change_stamp_deltas")).scalar() == 0
