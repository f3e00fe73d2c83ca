"""the node whose machine runs a notebook session's kernel

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy on SQLite), so the table keeps its stamp triggers.
    op.add_column("jupyter_sessions", sa.Column("node", sa.String(100), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("jupyter_sessions", "node")
