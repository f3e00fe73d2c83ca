"""an `activity` change stamp, moved by every write to user_activity

User activity is written by reads (a key's last API call, a sign-in), so it moves no topic
that other answers are kept under. Its own topic lets the two activity reads keep their
answers too: only they are kept under it (server/answers.py), so an activity write never
throws away any other kept answer.

Revision ID: 0022
Revises: 0019
"""

from alembic import op

revision = "0022"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLE = "user_activity"
BUMP = (
    "INSERT INTO change_stamps (topic, value) VALUES ('activity', 1)"
    " ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + 1"
)


def _triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":  # labkeeper_bump_stamp of 0009: a delta row, no row lock
        return [
            f"CREATE TRIGGER stamp_activity AFTER INSERT OR DELETE OR UPDATE ON {TABLE}"
            " FOR EACH STATEMENT EXECUTE FUNCTION labkeeper_bump_stamp('activity')"
        ]
    return [
        f"CREATE TRIGGER stamp_activity_{event.lower()} AFTER {event} ON {TABLE} BEGIN {BUMP}; END"
        for event in ("INSERT", "DELETE", "UPDATE")
    ]


def upgrade() -> None:
    for create in _triggers(op.get_bind().dialect.name):
        op.execute(create)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS stamp_activity ON {TABLE}")
        return
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS stamp_activity_{event}")
