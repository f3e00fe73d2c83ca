"""jupyter notebooks and sessions

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jupyter_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kernel_id", sa.String(length=40), nullable=False),
        sa.Column("project_key", sa.String(length=100), nullable=False),
        sa.Column("notebook_name", sa.String(length=100), nullable=False),
        sa.Column("kernel_name", sa.String(length=200), nullable=False),
        sa.Column("creator", sa.String(length=100), nullable=False),
        sa.Column("creator_display_name", sa.String(length=200), nullable=False),
        sa.Column("unix_owner", sa.String(length=100), nullable=False),
        sa.Column("unix_uid", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pid_create_time", sa.Float(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=False),
        sa.Column("connection_file", sa.Text(), nullable=False),
        sa.Column("socket_dir", sa.Text(), nullable=False),
        sa.Column("work_dir", sa.Text(), nullable=False),
        sa.Column("server_url", sa.String(length=300), nullable=False),
        sa.Column("execution_state", sa.String(length=20), nullable=False),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("started_on", sa.BigInteger(), nullable=False),
        sa.Column("last_activity_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jupyter_sessions")),
        sa.UniqueConstraint("kernel_id", name=op.f("uq_jupyter_sessions_kernel_id")),
    )
    op.create_index(op.f("ix_jupyter_sessions_creator"), "jupyter_sessions", ["creator"], unique=False)
    op.create_index(op.f("ix_jupyter_sessions_worker_id"), "jupyter_sessions", ["worker_id"], unique=False)
    op.create_index(
        "ix_jupyter_sessions_notebook", "jupyter_sessions", ["project_key", "notebook_name"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_jupyter_sessions_notebook", table_name="jupyter_sessions")
    op.drop_index(op.f("ix_jupyter_sessions_worker_id"), table_name="jupyter_sessions")
    op.drop_index(op.f("ix_jupyter_sessions_creator"), table_name="jupyter_sessions")
    op.drop_table("jupyter_sessions")
