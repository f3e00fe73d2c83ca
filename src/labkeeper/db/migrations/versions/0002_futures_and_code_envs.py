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
    op.create_table(
        "code_envs",
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("deployment_mode", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("python_version", sa.String(length=20), nullable=False),
        sa.Column("desc", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("spec_package_list", sa.Text(), nullable=False),
        sa.Column("spec_conda_environment", sa.Text(), nullable=False),
        sa.Column("actual_package_list", sa.Text(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("usable_by_all", sa.Boolean(), nullable=False),
        sa.Column("jupyter_kernel", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("build_token", sa.String(length=40), nullable=False),
        sa.Column("build_task_id", sa.String(length=40), nullable=False),
        sa.Column("build_claimed_on", sa.BigInteger(), nullable=False),
        sa.Column("created_on", sa.BigInteger(), nullable=False),
        sa.Column("updated_on", sa.BigInteger(), nullable=False),
        sa.Column("last_built_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lang", "name", name=op.f("pk_code_envs")),
    )
    op.create_index(op.f("ix_code_envs_owner"), "code_envs", ["owner"], unique=False)


def downgrade() -> None:
    # -- code env tables above --
    op.drop_index(op.f("ix_code_envs_owner"), table_name="code_envs")
    op.drop_table("code_envs")
    op.drop_table("tasks")
