"""code env builds held by each node, node labels

A code env is built on each node that starts a kernel of it, on first use there. Each node's
build of an env is one row of `code_env_nodes`: its state, the env version it built (the
env's `last_built_on`), the task that builds it, the error of a failed build. The table moves
the `data` stamp, like every table a kept answer reads (the env definition lists the nodes
holding it). A node carries labels (`nodes.labels`, from `labkeeper worker --label`) that a
project may pin its kernels to.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLE = "code_env_nodes"
BUMP = (
    "INSERT INTO change_stamps (topic, value) VALUES ('data', 1)"
    " ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + 1"
)


def _triggers(dialect: str) -> list[str]:
    """The CREATE statements of the table's data-stamp triggers (as in 0019)."""
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER stamp_data_{TABLE} AFTER INSERT OR DELETE OR UPDATE ON {TABLE}"
            " FOR EACH STATEMENT EXECUTE FUNCTION labkeeper_bump_stamp('data')"
        ]
    return [
        f"CREATE TRIGGER stamp_data_{TABLE}_{event.lower()} AFTER {event} ON {TABLE} BEGIN {BUMP}; END"
        for event in ("INSERT", "DELETE", "UPDATE")
    ]


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("env_lang", sa.String(8), nullable=False),
        sa.Column("env_name", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("task_id", sa.String(40), nullable=False, server_default=""),
        sa.Column("error", sa.Text(), nullable=False, server_default=""),
        sa.Column("updated_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node", "env_lang", "env_name", name=op.f("pk_code_env_nodes")),
    )
    for create in _triggers(op.get_bind().dialect.name):
        op.execute(create)
    # A plain ADD COLUMN (no batch copy on SQLite).
    op.add_column("nodes", sa.Column("labels", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("nodes", "labels")
    op.drop_table(TABLE)  # its triggers go with it
