"""Change stamps: one counter per topic, moved by the store itself on every write.

Each worker keeps derived answers in memory (who an API key is, the serialized settings
document, the project list) and must never serve them after a write, from any process, has
changed what they derive from. Database triggers (migration 0005) move a topic's counter in
the writing transaction, so the counter and the data become visible together. A request
reads every counter in one small read, before anything it derives; an answer derived after
reading stamp S is kept under S, so a write landing in between is seen as a moved stamp by
the next request, never the other way round.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db.store import Base

# A topic and the tables whose writes move it.
IDENTITY = "identity"  # users, groups, memberships, API keys (but not their last-used time)
SETTINGS = "settings"  # the instance documents: general settings, instance variables
PROJECTS = "projects"  # the projects table: what the project list is made of
DATA = "data"  # every other table (migration 0008): with the three above, any write moves a stamp

Stamps = dict[str, int]

READ_STAMPS = "SELECT topic, value FROM change_stamps"


class ChangeStamp(Base):
    __tablename__ = "change_stamps"

    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
