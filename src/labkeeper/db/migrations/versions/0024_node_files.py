"""files every node reaches: Lab checkpoints, kernel logs, project-import uploads

When notebooks are kept in the store, so is each notebook's Lab checkpoint
(`jupyter_checkpoints`), so a checkpoint made through one API node is restored through
another. The node running a kernel copies the tail of the kernel's log into
`jupyter_kernel_logs` (one row per session, gone with it), and a project archive uploaded to
one API node waits in `project_import_uploads` (one row per upload) and its chunks
(`project_import_chunks`) for the node that processes it.

No stamp triggers: no kept answer reads these tables, and a kernel log rewritten every few
seconds must not throw away every kept answer.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jupyter_checkpoints",
        sa.Column("project_key", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("modified_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_key", "name", name=op.f("pk_jupyter_checkpoints")),
    )
    op.create_table(
        "jupyter_kernel_logs",
        sa.Column("session_id", sa.String(40), nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("modified_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_jupyter_kernel_logs")),
    )
    op.create_table(
        "project_import_uploads",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_on", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_import_uploads")),
    )
    op.create_table(
        "project_import_chunks",
        sa.Column("upload_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", "seq", name=op.f("pk_project_import_chunks")),
    )


def downgrade() -> None:
    for table in (
        "project_import_chunks",
        "project_import_uploads",
        "jupyter_kernel_logs",
        "jupyter_checkpoints",
    ):
        op.drop_table(table)
