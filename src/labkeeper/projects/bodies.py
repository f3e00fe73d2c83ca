"""Request bodies of projects: creation, tags and duplication.

Project documents (settings, permissions, metadata, variables, datasets, recipes, scenarios)
are DSS documents kept whole: they are declared as JSON objects and checked by their service.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from labkeeper.server.params import Document


class ProjectCreate(Document):
    projectKey: str = Field(description="Upper-case letters, digits and '_'")
    name: str
    owner: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    permissions: list[dict[str, Any]] | None = None
    settings: dict[str, Any] | None = None


class TagsDocument(Document):
    tags: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict, description='Tag name to its definition, like {"color": "#ff0000"}'
    )


class DuplicateRequest(Document):
    targetProjectKey: str
    targetProjectName: str
    remapping: dict[str, Any] | None = None
