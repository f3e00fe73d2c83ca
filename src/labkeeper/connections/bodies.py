"""The body of a connection's creation or update (checked further by documents.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from labkeeper.server.params import Document


class ConnectionBody(Document):
    name: str | None = Field(None, description="Required on creation; on update, the path's name")
    type: str = Field(description="SQLite or PostgreSQL")
    description: str | None = None
    params: dict[str, Any] | None = None
    usableBy: str | None = Field(None, description="ALL (the default) or ALLOWED")
    allowedGroups: list[str] | None = None
    allowWrite: bool | None = None
    allowManagedDatasets: bool | None = None
    allowManagedFolders: bool | None = None
    allowKnowledgeBanks: bool | None = None
    detailsReadability: dict[str, Any] | None = None
