"""several machines: the node registry, where each task runs, and procrastinate's job queue

Revision ID: 0013
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("version", sa.String(40), nullable=False, server_default=""),
        sa.Column("host", sa.String(200), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("public_url", sa.String(300), nullable=False, server_default=""),
        sa.Column("started_on", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_on", sa.BigInteger, nullable=False),
        sa.Column("stopped_on", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("draining", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("live_kernels", sa.Integer, nullable=False, server_default="0"),
        sa.Column("running_tasks", sa.Integer, nullable=False, server_default="0"),
    )
    # Plain ADD COLUMNs (no batch copy on SQLite), so the table keeps its stamp triggers.
    op.add_column("tasks", sa.Column("node", sa.String(100), nullable=False, server_default=""))
    op.add_column("tasks", sa.Column("job_id", sa.BigInteger, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # procrastinate's own schema, as shipped by the pinned version (pyproject.toml); a new
        # procrastinate minor brings its migrations into a new labkeeper migration.
        from procrastinate.schema import SchemaManager

        exists = op.get_bind().exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar()
        if exists is None:
            op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    op.drop_column("tasks", "job_id")
    op.drop_column("tasks", "node")
    op.drop_table("nodes")
