"""The migrations build exactly the schema the models describe, on both databases."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import labkeeper.models  # noqa: F401
from labkeeper.db import Base
from labkeeper.db.migrate import include_name
from tests.conftest import Instance


def test_migrated_schema_matches_models(instance: Instance) -> None:
    with instance.store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(instance: Instance) -> None:
    from labkeeper.db.migrate import upgrade

    upgrade(instance.store.engine)
    with instance.store.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version is not None
