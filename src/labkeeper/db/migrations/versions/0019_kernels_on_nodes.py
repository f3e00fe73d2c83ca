"""kernels on worker nodes, notebooks and build logs in the store

The node running a kernel reports its memory and CPU into the session's row (any API node
answers from it), and says why a kernel it was asked to start did not start. Notebooks kept
in the store (`jupyter_notebooks`) are what every node reads when notebooks are stored
there (PostgreSQL). A code env build's log is copied into `code_env_build_logs` when the
build ends, so any API node answers it. Both tables move the `data` stamp like every table a
kept answer reads. Each node reports the kernels it can start (`nodes.kernels`: kernelspec
name to code env), so a session goes to a node where its kernel's env is built.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = ["jupyter_notebooks", "code_env_build_logs"]
BUMP = (
    "INSERT INTO change_stamps (topic, value) VALUES ('data', 1)"
    " ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + 1"
)


def _triggers(dialect: str, table: str) -> list[str]:
    """The CREATE statements of a new table's data-stamp triggers (as in 0008)."""
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER stamp_data_{table} AFTER INSERT OR DELETE OR UPDATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION labkeeper_bump_stamp('data')"
        ]
    return [
        f"CREATE TRIGGER stamp_data_{table}_{event.lower()} AFTER {event} ON {table} BEGIN {BUMP}; END"
        for event in ("INSERT", "DELETE", "UPDATE")
    ]


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch copy on SQLite), so the table keeps its stamp triggers.
    for column in (
        sa.Column("rss_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("cpu_time", sa.Float(), nullable=False, server_default="0"),
        sa.Column("start_error", sa.Text(), nullable=False, server_default=""),
    ):
        op.add_column("jupyter_sessions", column)
    op.add_column("nodes", sa.Column("kernels", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "jupyter_notebooks",
        sa.Column("project_key", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("modified_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_key", "name", name=op.f("pk_jupyter_notebooks")),
    )
    op.create_table(
        "code_env_build_logs",
        sa.Column("env_lang", sa.String(20), nullable=False),
        sa.Column("env_name", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("modified_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("env_lang", "env_name", "name", name=op.f("pk_code_env_build_logs")),
    )
    for table in TABLES:
        for create in _triggers(op.get_bind().dialect.name, table):
            op.execute(create)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)  # its triggers go with it
    op.drop_column("nodes", "kernels")
    op.drop_column("jupyter_sessions", "start_error")
    op.drop_column("jupyter_sessions", "cpu_time")
    op.drop_column("jupyter_sessions", "rss_bytes")
