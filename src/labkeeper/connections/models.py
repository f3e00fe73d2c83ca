"""The connection registry. A connection's password never sits in `params`: it is kept
encrypted in `secret` (see `secrets.py`)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class Connection(Base):
    __tablename__ = "connections"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict] = mapped_column(default=dict)
    # The password, encrypted with the instance's connection key; "" when there is none.
    secret: Mapped[str] = mapped_column(Text, default="")
    usable_by: Mapped[str] = mapped_column(String(16), default="ALL")
    allowed_groups: Mapped[list] = mapped_column(default=list)
    # The rest of the settings document (allowWrite, detailsReadability, ...), kept as sent.
    settings: Mapped[dict] = mapped_column(default=dict)
    created_on: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    modified_on: Mapped[int] = mapped_column(BigInteger, default=0)
    modified_by: Mapped[str] = mapped_column(String(100), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
