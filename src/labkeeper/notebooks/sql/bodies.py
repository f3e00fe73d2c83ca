"""Request bodies of SQL notebooks that labkeeper reads field by field (the notebook and
its history are DSS documents, checked by service.py)."""

from __future__ import annotations

from pydantic import Field

from labkeeper.server.params import Document


class ClearHistory(Document):
    cellId: str | None = Field(None, description="Only this cell's runs (all cells when absent)")
    numRunsToRetain: int | None = Field(
        None, ge=0, le=1_000_000, description="Keep this many most recent runs"
    )
