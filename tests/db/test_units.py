"""A request's unit of work (db/store.py): `after_rollback` writes stand only when the
unit ends uncommitted, each in a transaction of its own, on either store."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from labkeeper.db import Store
from tests.conftest import Instance


def insert(store: Store, action: str) -> None:
    with store.begin() as s:
        s.execute(
            text(
                'INSERT INTO audit_events (time, "user", api_key_id, action, target, outcome, details, '
                "request_id) VALUES (0, '', '', :action, '', 'ok', '{}', '')"
            ),
            {"action": action},
        )


def actions(store: Store) -> list[str]:
    with store.read() as s:
        return sorted(s.scalars(text("SELECT action FROM audit_events WHERE action LIKE 'unit-%'")))


def test_a_rolled_back_unit_runs_its_after_rollback_writes_alone(instance: Instance) -> None:
    store = instance.store
    with pytest.raises(RuntimeError), store.unit():
        insert(store, "unit-undone")  # holds the write lock on SQLite until the unit ends
        store.after_rollback(lambda: insert(store, "unit-kept"))
        raise RuntimeError("refused")
    assert actions(store) == ["unit-kept"]


def test_a_committed_unit_skips_its_after_rollback_writes(instance: Instance) -> None:
    store = instance.store
    with store.unit() as unit:
        insert(store, "unit-done")
        store.after_rollback(lambda: insert(store, "unit-never"))
        unit.commit()
    assert actions(store) == ["unit-done"]


def test_outside_a_unit_the_write_is_made_at_once(instance: Instance) -> None:
    instance.store.after_rollback(lambda: insert(instance.store, "unit-now"))
    assert actions(instance.store) == ["unit-now"]
