"""The project list, served from memory.

`GET /projects/` is the hottest read of the API, so each worker process keeps every
project's list item already serialized, plus the items of each caller view, under the
store's `projects` change stamp (see db/stamps.py): every write to the projects table, from
any process, moves it. The next request then reads the rows again, as stored (JSON columns
as text, no decoding), and serializes only the rows that differ from the ones it kept: after
one project changed, one item is rebuilt, not ten thousand. Pages (`limit`, `offset`) are
slices of a view.

A view is keyed by the whole principal (its key id and kind, login, groups, rights, and the
admin key behind an X-DKU-ProxyUser call), never by a part two callers can share: two global
keys with the same groups may see different projects (each owns what it created). Only the
admin view, the whole list whoever asks, is shared.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Text, cast, select

from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.db.stamps import PROJECTS, Stamps
from labkeeper.projects.access import can
from labkeeper.projects.models import Project

MAX_CACHED_VIEWS = 4096


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
    row: tuple  # the row as stored, to tell whether it changed
    owner: str
    permissions: dict[str, Any]
    item: bytes
    item_with_location: bytes


@dataclass
class _Snapshot:
    stamp: int
    entries: list[_Entry]
    views: dict[tuple[object, bool], tuple[list[bytes], bytes]] = field(default_factory=dict)


_COLUMNS = (
    Project.key,
    Project.name,
    Project.owner,
    cast(Project.permissions, Text).label("permissions"),
    cast(Project.metadata_doc, Text).label("metadata_doc"),
    Project.created_on,
    Project.created_by,
    Project.modified_on,
    Project.modified_by,
    Project.version,
    Project.folder_id,
)


@dataclass
class _Decoded:
    key: str
    name: str
    owner: str
    permissions: Any
    metadata_doc: Any
    created_on: int
    created_by: str
    modified_on: int
    modified_by: str
    version: int
    folder_id: str


def _entry(row: tuple) -> _Entry:
    project = _Decoded(*row)
    project.permissions = orjson.loads(project.permissions) if project.permissions else {}
    project.metadata_doc = orjson.loads(project.metadata_doc) if project.metadata_doc else {}
    item = list_item(project)
    plain = orjson.dumps(item)
    item["projectLocation"] = location(project)
    return _Entry(row, project.owner, project.permissions or {}, plain, orjson.dumps(item))


def _build(stamp: int, rows: list[tuple], previous: _Snapshot | None) -> _Snapshot:
    """The snapshot of `rows`, reusing the entries of `previous` whose row did not change."""
    kept = {entry.row[0]: entry for entry in previous.entries} if previous is not None else {}
    entries = []
    for row in rows:
        entry = kept.get(row[0])
        entries.append(entry if entry is not None and entry.row == row else _entry(row))
    return _Snapshot(stamp, entries)


class ProjectListCache:
    """The serialized list of one store, per worker process."""

    def __init__(self) -> None:
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def render(
        self,
        store: Store,
        principal: Principal,
        *,
        include_location: bool,
        stamps: Stamps | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> bytes:
        stamp = (stamps if stamps is not None else store.stamps()).get(PROJECTS, 0)
        snapshot = self._snapshot
        if snapshot is None or snapshot.stamp != stamp:
            snapshot = self._rebuild(store, stamp, snapshot)
        cache_key = (True if principal.admin else principal, include_location)
        view = snapshot.views.get(cache_key)
        if view is None:
            parts = _view(snapshot.entries, principal, include_location)
            view = (parts, b"[" + b",".join(parts) + b"]")
            if len(snapshot.views) >= MAX_CACHED_VIEWS:
                snapshot.views.clear()
            snapshot.views[cache_key] = view
        if offset or limit is not None:
            return b"[" + b",".join(view[0][offset : None if limit is None else offset + limit]) + b"]"
        return view[1]

    def _rebuild(self, store: Store, stamp: int, previous: _Snapshot | None) -> _Snapshot:
        """The rows read after `stamp` was: at worst newer than it, never older."""
        with store.read() as s:
            rows = [tuple(row) for row in s.execute(select(*_COLUMNS).order_by(Project.key))]
        snapshot = _build(stamp, rows, previous)
        with self._lock:
            self._snapshot = snapshot
        return snapshot


def _view(entries: list[_Entry], principal: Principal, include_location: bool) -> list[bytes]:
    return [
        entry.item_with_location if include_location else entry.item
        for entry in entries
        if can(principal, entry.owner, entry.permissions, "READ")
    ]


_CACHES: weakref.WeakKeyDictionary[Store, ProjectListCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(store: Store) -> ProjectListCache:
    cache = _CACHES.get(store)
    if cache is None:
        with _CACHES_LOCK:
            cache = _CACHES.setdefault(store, ProjectListCache())
    return cache


def render_project_list(
    store: Store,
    principal: Principal,
    *,
    include_location: bool = False,
    stamps: Stamps | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> bytes:
    """The list `principal` may read (the page `offset`, `limit` of it); `stamps` as read at
    the start of the request, if they were."""
    return cache_for(store).render(
        store, principal, include_location=include_location, stamps=stamps, limit=limit, offset=offset
    )
