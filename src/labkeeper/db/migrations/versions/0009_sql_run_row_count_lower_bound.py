"""whether a SQL cell run's row count stopped at a row too large to read

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sql_query_runs") as batch:
        batch.add_column(
            sa.Column("row_count_is_lower_bound", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sql_query_runs") as batch:
        batch.drop_column("row_count_is_lower_bound")
