"""a `data` change stamp moved by every other table, for the cached answers of reads

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Every table no topic of 0005 watches (api_keys: its last-used time too). A later table
# whose rows a cached read answers must be added here by its own migration.
TABLES = [
    "api_keys", "audit_events", "code_envs", "connections", "jupyter_sessions",
    "project_objects", "sql_notebooks", "sql_query_runs", "tasks",
]  # fmt: skip
BUMP = (
    "INSERT INTO change_stamps (topic, value) VALUES ('data', 1)"
    " ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + 1"
)


def _triggers(dialect: str) -> list[tuple[str, str, str]]:
    made = []
    for table in TABLES:
        if dialect == "postgresql":  # the function of 0005, one statement-level trigger
            name = f"stamp_data_{table}"
            create = (
                f"CREATE TRIGGER {name} AFTER INSERT OR DELETE OR UPDATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION labkeeper_bump_stamp('data')"
            )
            made.append((name, table, create))
            continue
        for event in ("INSERT", "DELETE", "UPDATE"):
            name = f"stamp_data_{table}_{event.lower()}"
            made.append((name, table, f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END"))
    return made


def upgrade() -> None:
    for _name, _table, create in _triggers(op.get_bind().dialect.name):
        op.execute(create)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, _create in _triggers(dialect):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dialect == "postgresql" else ""))
