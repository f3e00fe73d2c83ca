"""connections and sql notebooks

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("usable_by", sa.String(length=16), nullable=False),
        sa.Column("allowed_groups", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_on", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("modified_on", sa.BigInteger(), nullable=False),
        sa.Column("modified_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_connections")),
    )
    op.create_index(op.f("ix_connections_type"), "connections", ["type"], unique=False)
    op.create_table(
        "sql_notebooks",
        sa.Column("project_key", sa.String(length=100), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_on", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("modified_on", sa.BigInteger(), nullable=False),
        sa.Column("modified_by", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_key"],
            ["projects.key"],
            name=op.f("fk_sql_notebooks_project_key_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_key", "id", name=op.f("pk_sql_notebooks")),
    )
    op.create_index(op.f("ix_sql_notebooks_connection"), "sql_notebooks", ["connection"], unique=False)
    op.create_table(
        "sql_query_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_key", sa.String(length=100), nullable=False),
        sa.Column("notebook_id", sa.String(length=40), nullable=False),
        sa.Column("cell_id", sa.String(length=100), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("run_on", sa.BigInteger(), nullable=False),
        sa.Column("run_by", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("expanded_sql", sa.Text(), nullable=False),
        sa.Column("ended_on", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("rows_kept", sa.Integer(), nullable=False),
        sa.Column("has_result_set", sa.Boolean(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_key", "notebook_id"],
            ["sql_notebooks.project_key", "sql_notebooks.id"],
            name=op.f("fk_sql_query_runs_project_key_sql_notebooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sql_query_runs")),
    )
    op.create_index(
        "ix_sql_query_runs_cell",
        "sql_query_runs",
        ["project_key", "notebook_id", "cell_id", "run_on"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_sql_query_runs_cell", table_name="sql_query_runs")
    op.drop_table("sql_query_runs")
    op.drop_index(op.f("ix_sql_notebooks_connection"), table_name="sql_notebooks")
    op.drop_table("sql_notebooks")
    op.drop_index(op.f("ix_connections_type"), table_name="connections")
    op.drop_table("connections")
