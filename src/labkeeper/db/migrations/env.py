"""Alembic environment: the engine is handed in by labkeeper.db.migrate."""

from alembic import context

import labkeeper.models  # noqa: F401  (registers every table on Base.metadata)
from labkeeper.db.migrate import include_name
from labkeeper.db.store import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    if engine.dialect.name == "postgresql":
        # Several processes may start at once; one migrates, the others wait for it.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7158112)")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    context.run_migrations()
