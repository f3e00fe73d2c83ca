"""Change stamps: one counter per topic, moved by the store itself on every write.

Each worker keeps derived answers in memory (who an API key is, the serialized settings
document, the project list) and must never serve them after a write, from any process, has
changed what they derive from. Database triggers (migrations 0005, 0008) move a topic's
counter in the writing transaction, so the counter and the data become visible together. A
request reads every counter in one small read, before anything it derives; an answer
derived after reading stamp S is kept under S, so a write landing in between is seen as a
moved stamp by the next request, never the other way round.

**How a counter moves.** On SQLite (one writer at a time anyway) the trigger adds 1 to the
topic's row of `change_stamps`. On PostgreSQL that row was a lock every concurrent writer
queued on until the holder committed (the `data` row is moved by almost every write), so
there (migration 0009) the trigger *inserts* a row into `change_stamp_deltas` instead, and a
stamp is `change_stamps.value + count(deltas of the topic)`, read in one statement
(`READ_STAMPS_POSTGRESQL`). Inserts take no lock another writer waits for. Now and then a
worker folds the deltas into the rows (`labkeeper_fold_stamp_deltas()`: deletes them and
adds their count, in one transaction, one folder at a time), which leaves every stamp's
value unchanged.

**Why a reader can never keep old data under a new stamp.** The delta is a row written by
the writing transaction itself, so it becomes visible exactly when the write does, to every
snapshot: in a snapshot, the stamp counts a write's delta if and only if the snapshot sees
the write. A request reads the stamps in one statement (its own snapshot, taken after the
request arrived), then reads data in later statements or transactions, whose snapshots are
taken later: everything committed before the stamp read is visible to the data reads. So an
answer kept under stamp S was computed from data at least as new as S; it may be newer (a
write committed between the two reads), which only means the next request sees a moved
stamp and recomputes once. The value is a count, so it only grows while rows are added (a
rolled-back write leaves no delta: no stamp moves), and the fold moves counts from deltas to
rows atomically (readers see both before or both after). Rejected: a sequence (`nextval` in
the trigger) moves when the statement runs, before commit, so a reader in between would read
the new stamp with the old data and keep them together for good; bumping after commit from
the application would miss writes made straight in the database and any crash between
commit and bump; `max(id)` of the deltas misses a transaction that took a smaller id but
committed later, which a count cannot.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db.store import _READ_STAMPS, _READ_STAMPS_POSTGRESQL, Base

# A topic and the tables whose writes move it.
IDENTITY = "identity"  # users, groups, memberships, API keys (but not their last-used time)
SETTINGS = "settings"  # the instance documents: general settings, instance variables
PROJECTS = "projects"  # the projects table: what the project list is made of
DATA = "data"  # every other table (migration 0008): with the three above, any write moves a stamp
# user_activity (migration 0022), written by reads: only the activity reads are kept under it
ACTIVITY = "activity"
# nodes (migration 0025), written by every node's heartbeat: only the node listing is kept under it
NODES = "nodes"

Stamps = dict[str, int]

READ_STAMPS = _READ_STAMPS
READ_STAMPS_POSTGRESQL = _READ_STAMPS_POSTGRESQL
FOLD_EVERY_SECONDS = 0.5


class ChangeStamp(Base):
    __tablename__ = "change_stamps"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ChangeStampDelta(Base):
    """One write's move of a topic's stamp, on PostgreSQL (see the module docstring)."""

    __tablename__ = "change_stamp_deltas"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(32))
