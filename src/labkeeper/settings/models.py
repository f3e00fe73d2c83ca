"""Instance-wide JSON documents (general settings, instance variables)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class Document(Base):
    __tablename__ = "documents"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_on: Mapped[int] = mapped_column(BigInteger)
