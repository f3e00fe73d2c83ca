"""The body of a notebook run (labkeeper addition); notebooks themselves are nbformat
documents, checked by files.py."""

from __future__ import annotations

from pydantic import Field

from labkeeper.server.params import Document


class RunRequest(Document):
    sessionId: str | None = Field(None, description="Run in this session (a new one when absent)")
