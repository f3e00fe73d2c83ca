"""web console sign-in: server-side sessions (only a hash of the cookie) and failed sign-ins

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("login", sa.String(100), sa.ForeignKey("users.login", ondelete="CASCADE"), nullable=False),
        sa.Column("password_mark", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_on", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_on", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_console_sessions_login", "console_sessions", ["login"])
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("login", sa.String(100), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_signin_failures_login_time", "signin_failures", ["login", "time"])
    op.create_index("ix_signin_failures_address_time", "signin_failures", ["address", "time"])


def downgrade() -> None:
    op.drop_table("signin_failures")
    op.drop_table("console_sessions")
