"""whether a SQL cell run's row count stopped at a row too large to read

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy on SQLite), so the table keeps its stamp triggers.
    op.add_column(
        "sql_query_runs",
        sa.Column("row_count_is_lower_bound", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("sql_query_runs", "row_count_is_lower_bound")
