"""the database session a SQL cell run holds, so a restart can stop its query

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sql_query_runs") as batch:
        batch.add_column(
            sa.Column("database_session", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("sql_query_runs") as batch:
        batch.drop_column("database_session")
