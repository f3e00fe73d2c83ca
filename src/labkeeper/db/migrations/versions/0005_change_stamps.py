"""change stamps moved by triggers; they replace the project list generation row

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# topic -> {table: columns whose update moves it (None: any)}. The last-used time of a key
# is written once a minute by the key check and changes nobody's rights.
WATCHED = {
    "identity": {
        "users": None,
        "groups": None,
        "memberships": None,
        "api_keys": [
            "id", "kind", "prefix", "secret_hash", "label", "description", "user_login",
            "admin", "groups", "extra", "created_on", "created_by", "expires_on",
        ],
    },
    "settings": {"documents": None},
    "projects": {"projects": None},
}  # fmt: skip

# Re-creates a missing row (a truncated table) instead of failing the write.
BUMP = (
    "INSERT INTO change_stamps (topic, value) VALUES ({topic}, 1)"
    " ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + 1"
)


def _triggers(dialect: str) -> list[tuple[str, str, str]]:
    """(trigger, table, CREATE statement) for every watched table and event."""
    made = []
    for topic, tables in WATCHED.items():
        for table, columns in tables.items():
            update = "UPDATE" + (f" OF {', '.join(columns)}" if columns else "")
            if dialect == "postgresql":  # one function, one statement-level trigger a table
                name = f"stamp_{table}"
                create = (
                    f"CREATE TRIGGER {name} AFTER INSERT OR DELETE OR {update} ON {table}"
                    f" FOR EACH STATEMENT EXECUTE FUNCTION labkeeper_bump_stamp('{topic}')"
                )
                made.append((name, table, create))
                continue
            for event in ("INSERT", "DELETE", update):
                name = f"stamp_{table}_{event.split()[0].lower()}"
                bump = BUMP.format(topic=f"'{topic}'")
                create = f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {bump}; END"
                made.append((name, table, create))
    return made


def upgrade() -> None:
    op.create_table(
        "change_stamps",
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", name=op.f("pk_change_stamps")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        bump = BUMP.format(topic="TG_ARGV[0]")
        op.execute(
            "CREATE FUNCTION labkeeper_bump_stamp() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN {bump}; RETURN NULL; END $$"
        )
    for _name, _table, create in _triggers(dialect):
        op.execute(create)
    op.drop_table("project_list_generation")


def downgrade() -> None:
    op.create_table(
        "project_list_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_list_generation")),
    )
    dialect = op.get_bind().dialect.name
    for name, table, _create in _triggers(dialect):
        op.execute(f"DROP TRIGGER {name} ON {table}" if dialect == "postgresql" else f"DROP TRIGGER {name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION labkeeper_bump_stamp()")
    op.drop_table("change_stamps")
