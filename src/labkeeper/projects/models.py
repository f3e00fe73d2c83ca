"""Projects and their stored objects (datasets, recipes, scenarios).

A few values that live inside the JSON documents are copied into plain columns when a
document is written (the explicit code envs, a scenario's "active with triggers" state), so
that usage reports and code-env usage lookups are indexed aggregate queries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
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
    created_by: Mapped[str] = mapped_column(String(100), default="")
    modified_on: Mapped[int] = mapped_column(BigInteger, default=0)
    modified_by: Mapped[str] = mapped_column(String(100), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    folder_id: Mapped[str] = mapped_column(String(100), default="ROOT")
    # Copied from settings.codeEnvs.<lang> when its mode is EXPLICIT_ENV, else NULL.
    python_env: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    r_env: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)


class ProjectObject(Base):
    """A stored definition: kind is DATASET, RECIPE or SCENARIO; type is its DSS type."""

    __tablename__ = "project_objects"
    __table_args__ = (
        Index("ix_project_objects_kind_type", "kind", "type"),
        Index("ix_project_objects_env", "env_lang", "env_name"),
    )

    project_key: Mapped[str] = mapped_column(ForeignKey("projects.key", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(60), default="")
    definition: Mapped[dict] = mapped_column(default=dict)
    # A recipe's code or JSON payload, a custom scenario's script.
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Code recipes with envSelection EXPLICIT_ENV: PYTHON or R, and the env's name.
    env_lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    env_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Scenarios: active, with at least one active trigger.
    active_with_triggers: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[int] = mapped_column(BigInteger, default=0)
    modified_on: Mapped[int] = mapped_column(BigInteger, default=0)
