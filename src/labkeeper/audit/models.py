"""The audit log: append-only, one row per state-changing call or notable event."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[int] = mapped_column(BigInteger, index=True)
    user: Mapped[str] = mapped_column(String(100), default="")
    api_key_id: Mapped[str] = mapped_column(String(40), default="")
    action: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict] = mapped_column(default=dict)
    # The X-Request-Id of the call (server/request_path.py): the row and the log lines of one
    # request carry the same id.
    request_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
