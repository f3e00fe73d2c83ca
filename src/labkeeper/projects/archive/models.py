"""Project archives uploaded to one node and processed by any (archive/kept.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class ImportUpload(Base):
    __tablename__ = "project_import_uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    created_on: Mapped[int] = mapped_column(BigInteger)


class ImportChunk(Base):
    __tablename__ = "project_import_chunks"

    upload_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
