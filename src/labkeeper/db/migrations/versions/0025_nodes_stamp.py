"""a `nodes` change stamp, moved by every write to the node registry

A node's heartbeat rewrites its row every few seconds, so the registry moves no topic that
other answers are kept under. Its own topic lets the node listing keep its answer between
heartbeats (server/answers.py OWN_TOPICS), and a drain, written by any API node, is seen by
the next listing on every node.

Revision ID: 0025
Revises: 0024
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

TABLE = "nodes"
TOPIC = "nodes"
BUMP = (
    f"INSERT INTO change_stamps (topic, value) VALUES ('{TOPIC}', 1)"
    " ON CONFLICT (topic) DO UPDATE SET value = change_stamps.value + 1"
)


def _triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":  # labkeeper_bump_stamp of 0009: a delta row, no row lock
        return [
            f"CREATE TRIGGER stamp_{TOPIC} AFTER INSERT OR DELETE OR UPDATE ON {TABLE}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION labkeeper_bump_stamp('{TOPIC}')"
        ]
    return [
        f"CREATE TRIGGER stamp_{TOPIC}_{event.lower()} AFTER {event} ON {TABLE} BEGIN {BUMP}; END"
        for event in ("INSERT", "DELETE", "UPDATE")
    ]


def upgrade() -> None:
    for create in _triggers(op.get_bind().dialect.name):
        op.execute(create)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS stamp_{TOPIC} ON {TABLE}")
        return
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS stamp_{TOPIC}_{event}")
