"""PostgreSQL: a write adds a delta row instead of bumping the topic's one row

Every writing transaction used to update the same `change_stamps` row (of its topic, and
the `data` row for almost every table): concurrent writers waited for each other's commit
on that row lock. Now the triggers insert a row into `change_stamp_deltas` (inserts do not
conflict), a stamp is its row plus the count of its deltas, and deltas are folded into the
rows from time to time (`labkeeper_fold_stamp_deltas()`). See db/stamps.py. SQLite, which
has one writer at a time anyway, keeps the plain counters (the table exists there, unused,
so that both stores have one schema).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FOLD = """
CREATE FUNCTION labkeeper_fold_stamp_deltas() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- one folder at a time (the others skip); rows and deltas move in one transaction,
    -- so every stamp (row + deltas) keeps its value for every reader
    IF pg_try_advisory_xact_lock(4242009) THEN
        WITH moved AS (DELETE FROM change_stamp_deltas RETURNING topic)
        INSERT INTO change_stamps (topic, value)
        SELECT topic, count(*) FROM moved GROUP BY topic ORDER BY topic
        ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + EXCLUDED.value;
    END IF;
END $$
"""
OLD_BUMP = (
    "INSERT INTO change_stamps (topic, value) VALUES (TG_ARGV[0], 1)"
    " ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + 1"
)


def upgrade() -> None:
    op.create_table(
        "change_stamp_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_stamp_deltas")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION labkeeper_bump_stamp() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN INSERT INTO change_stamp_deltas (topic) VALUES (TG_ARGV[0]); RETURN NULL; END $$"
    )
    op.execute(FOLD)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_table("change_stamp_deltas")
        return
    op.execute("SELECT labkeeper_fold_stamp_deltas()")
    op.execute(
        "CREATE OR REPLACE FUNCTION labkeeper_bump_stamp() RETURNS trigger LANGUAGE plpgsql AS"
        f" $$ BEGIN {OLD_BUMP}; RETURN NULL; END $$"
    )
    op.execute("DROP FUNCTION labkeeper_fold_stamp_deltas()")
    op.drop_table("change_stamp_deltas")
