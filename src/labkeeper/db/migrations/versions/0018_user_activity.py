"""when each user last called the API, started a session, signed in or failed to

Revision ID: 0018
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No change stamp trigger (see auth/activity.py): activity is written by reads.
    op.create_table(
        "user_activity",
        sa.Column(
            "login", sa.String(100), sa.ForeignKey("users.login", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("last_api_call", sa.BigInteger(), nullable=True),
        sa.Column("last_session_start", sa.BigInteger(), nullable=True),
        sa.Column("last_session_activity", sa.BigInteger(), nullable=True),
        sa.Column("last_successful_login", sa.BigInteger(), nullable=True),
        sa.Column("last_failed_login", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("user_activity")
