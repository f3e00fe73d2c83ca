"""why a task failed: its own failure, or its caller's input (answered 400)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy on SQLite), so the table keeps its stamp triggers.
    op.add_column("tasks", sa.Column("error_kind", sa.String(20), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("tasks", "error_kind")
