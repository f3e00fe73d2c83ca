"""futures and code envs

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("is_scenario", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("aborted_by", sa.String(length=100), nullable=False),
        sa.Column("abort_requested_by", sa.String(length=100), nullable=False),
        sa.Column("runner_id", sa.String(length=200), nullable=False),
        sa.Column("processes", sa.JSON(), nullable=False),
        sa.Column("started_on", sa.BigInteger(), nullable=False),
        sa.Column("ended_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_owner"), "tasks", ["owner"], unique=False)
    op.create_index(op.f("ix_tasks_runner_id"), "tasks", ["runner_id"], unique=False)
    op.create_index(op.f("ix_tasks_state"), "tasks", ["state"], unique=False)
    # -- code env tables below --


def downgrade() -> None:
    # -- code env tables above --
    op.drop_table("tasks")
