"""The project list, served from memory.

`GET /projects/` is the hottest read of the API, so each worker process keeps every
project's list item already serialized, plus the finished answer for each caller view
(admin, or a login with its groups). A single counter row, moved in the same transaction
as every project write (`bump_generation`), says whether the memory copy is still current:
each request reads it (one indexed read) and rebuilds only when it changed. Reading the
counter before the projects means a write landing in between is at worst cached under the
old counter, which the next request sees as stale; never the other way round. Because the
counter lives in the store, several worker processes stay correct.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.projects.access import can
from labkeeper.projects.models import Project, ProjectListGeneration

GENERATION_ROW = 1
MAX_CACHED_VIEWS = 4096


def bump_generation(s: Session) -> None:
    """Mark the project list as changed, inside the caller's write transaction."""
    moved = s.execute(
        update(ProjectListGeneration)
        .where(ProjectListGeneration.id == GENERATION_ROW)
        .values(value=ProjectListGeneration.value + 1)
    ).rowcount
    if moved:
        return
    try:
        with s.begin_nested():  # the row is missing on a fresh or emptied store
            s.add(ProjectListGeneration(id=GENERATION_ROW, value=1))
    except IntegrityError:  # another transaction created it meanwhile
        s.execute(
            update(ProjectListGeneration)
            .where(ProjectListGeneration.id == GENERATION_ROW)
            .values(value=ProjectListGeneration.value + 1)
        )


_GENERATION_SQL = f"SELECT value FROM project_list_generation WHERE id = {GENERATION_ROW}"


def read_generation(conn: Connection) -> int:
    value = conn.exec_driver_sql(_GENERATION_SQL).scalar()
    return -1 if value is None else int(value)


def current_generation(store: Store) -> int:
    """The counter, read on every list request through the store's hot-path reader."""
    with store.raw_reader() as query:
        rows = query(_GENERATION_SQL)
    return -1 if not rows else int(rows[0][0])


def tag(version: int, login: str, when: int) -> dict[str, Any]:
    return {"versionNumber": version, "lastModifiedBy": {"login": login}, "lastModifiedOn": when}


def list_item(project: Any) -> dict[str, Any]:
    """The list item of a project (an ORM row or a row with the same attributes)."""
    meta = project.metadata_doc or {}
    return {
        "projectKey": project.key,
        "name": project.name,
        "owner": project.owner,
        "shortDesc": meta.get("shortDesc", ""),
        "tags": meta.get("tags", []),
        "projectStatus": meta.get("projectStatus"),
        "creationTag": tag(0, project.created_by or project.owner, project.created_on),
        "versionTag": tag(
            project.version, project.modified_by or project.owner, project.modified_on or project.created_on
        ),
    }


def location(project: Any) -> dict[str, Any]:
    return {"folderId": project.folder_id}


@dataclass
class _Entry:
    owner: str
    permissions: dict[str, Any]
    item: bytes
    item_with_location: bytes


@dataclass
class _Snapshot:
    generation: int
    entries: list[_Entry]
    views: dict[tuple, bytes] = field(default_factory=dict)


_COLUMNS = (
    Project.key,
    Project.name,
    Project.owner,
    Project.permissions,
    Project.metadata_doc,
    Project.created_on,
    Project.created_by,
    Project.modified_on,
    Project.modified_by,
    Project.version,
    Project.folder_id,
)


def _build(generation: int, rows: list) -> _Snapshot:
    entries = []
    for row in rows:
        item = list_item(row)
        plain = orjson.dumps(item)
        item["projectLocation"] = location(row)
        entries.append(_Entry(row.owner, row.permissions or {}, plain, orjson.dumps(item)))
    return _Snapshot(generation, entries)


class ProjectListCache:
    """The serialized list of one store, per worker process."""

    def __init__(self) -> None:
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def render(self, store: Store, principal: Principal, *, include_location: bool) -> bytes:
        snapshot = self._snapshot
        if snapshot is None or snapshot.generation != current_generation(store):
            snapshot = self._rebuild(store)
        view = (True,) if principal.admin else (principal.login, principal.groups)
        cache_key = (view, include_location)
        answer = snapshot.views.get(cache_key)
        if answer is None:
            answer = _render(snapshot.entries, principal, include_location)
            if len(snapshot.views) >= MAX_CACHED_VIEWS:
                snapshot.views.clear()
            snapshot.views[cache_key] = answer
        return answer

    def _rebuild(self, store: Store) -> _Snapshot:
        with store.reader.connect() as conn:  # one snapshot for the counter and the rows
            generation = read_generation(conn)
            rows = conn.execute(select(*_COLUMNS).order_by(Project.key)).all()
        snapshot = _build(generation, rows)
        with self._lock:
            self._snapshot = snapshot
        return snapshot


def _render(entries: list[_Entry], principal: Principal, include_location: bool) -> bytes:
    parts = [
        entry.item_with_location if include_location else entry.item
        for entry in entries
        if can(principal, entry.owner, entry.permissions, "READ")
    ]
    return b"[" + b",".join(parts) + b"]"


_CACHES: weakref.WeakKeyDictionary[Store, ProjectListCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(store: Store) -> ProjectListCache:
    cache = _CACHES.get(store)
    if cache is None:
        with _CACHES_LOCK:
            cache = _CACHES.setdefault(store, ProjectListCache())
    return cache


def render_project_list(store: Store, principal: Principal, *, include_location: bool = False) -> bytes:
    return cache_for(store).render(store, principal, include_location=include_location)
