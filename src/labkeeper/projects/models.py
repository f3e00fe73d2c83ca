"""Projects and their stored objects (datasets, recipes, scenarios)."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from labkeeper.db import Base


class Project(Base):
    __tablename__ = "projects"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(100), index=True)
    metadata_doc: Mapped[dict] = mapped_column(default=dict)
    settings: Mapped[dict] = mapped_column(default=dict)
    # {"owner": ..., "permissions": [{"group": ..., "readProjectContent": ...}, ...]}
    permissions: Mapped[dict] = mapped_column(default=dict)
    variables_standard: Mapped[dict] = mapped_column(default=dict)
    variables_local: Mapped[dict] = mapped_column(default=dict)
    created_on: Mapped[int] = mapped_column(BigInteger)


class ProjectObject(Base):
    """A stored definition: kind is DATASET, RECIPE or SCENARIO; type is its DSS type."""

    __tablename__ = "project_objects"
    __table_args__ = (Index("ix_project_objects_kind_type", "kind", "type"),)

    project_key: Mapped[str] = mapped_column(
        ForeignKey("projects.key", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(60), default="")
    definition: Mapped[dict] = mapped_column(default=dict)
