"""The body of a connection's creation or update: its types (the values are checked by
documents.py, which checks every document against this model first)."""

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
    allowWrite: bool = Field(False, description="Datasets may write through it")
    allowManagedDatasets: bool = False
    allowManagedFolders: bool = False
    allowKnowledgeBanks: bool = False
    detailsReadability: dict[str, Any] | None = None
