"""Uploaded project archives kept in the store, when several nodes share it (PostgreSQL):
the import is uploaded to one API node and processed through whichever the load balancer
picks, so the node that received the upload keeps nothing the import needs. The receiving
node checks the archive's entries first (a refused archive is never stored), then copies it
into `project_import_chunks` (CHUNK_BYTES a row) under one `project_import_uploads` row
naming its uploader, in one transaction: an upload is whole or absent. The processing node
copies it back to a private file of its own for the import, and forgets the rows when the
import is done or refused. An upload left for UPLOAD_TTL_MS is removed by the next upload.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import delete, insert, select

from labkeeper.db import Store, now_ms
from labkeeper.projects.archive.models import ImportChunk, ImportUpload

CHUNK_BYTES = 4 * 1024 * 1024
UPLOAD_TTL_MS = 24 * 3600 * 1000


def put(store: Store, import_id: str, owner: str, archive: Path) -> None:
    """Copy the checked archive into the store (blocking)."""
    size = archive.stat().st_size
    with store.begin() as s, open(archive, "rb") as source:
        seq = 0
        while chunk := source.read(CHUNK_BYTES):
            s.execute(insert(ImportChunk).values(upload_id=import_id, seq=seq, data=chunk))
            seq += 1
        s.add(ImportUpload(id=import_id, owner=owner, size=size, created_on=now_ms()))


def owner_of(store: Store, import_id: str) -> str | None:
    with store.read() as s:
        return s.scalar(select(ImportUpload.owner).where(ImportUpload.id == import_id))


def fetch(store: Store, import_id: str, target: Path) -> None:
    """Write the stored archive to `target` (created 0600; must not exist), a chunk at a
    time (memory stays at one chunk whatever the archive's size)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        seq = 0
        while True:
            with store.read() as s:
                data = s.scalar(
                    select(ImportChunk.data).where(ImportChunk.upload_id == import_id, ImportChunk.seq == seq)
                )
            if data is None:
                return
            out.write(data)
            seq += 1


def forget(store: Store, import_id: str) -> None:
    with store.begin() as s:
        s.execute(delete(ImportUpload).where(ImportUpload.id == import_id))
        s.execute(delete(ImportChunk).where(ImportChunk.upload_id == import_id))


def sweep(store: Store) -> None:
    """Remove the uploads nobody processed within UPLOAD_TTL_MS."""
    cutoff = now_ms() - UPLOAD_TTL_MS
    with store.begin() as s:
        stale = list(s.scalars(select(ImportUpload.id).where(ImportUpload.created_on < cutoff)))
        if stale:
            s.execute(delete(ImportChunk).where(ImportChunk.upload_id.in_(stale)))
            s.execute(delete(ImportUpload).where(ImportUpload.id.in_(stale)))
