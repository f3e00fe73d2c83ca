"""The project list, served from memory.

`GET /projects/` is the hottest read of the API, so each worker process keeps every
project's list item already serialized, plus the finished answer for each caller view
under the store's `projects` change stamp (see
db/stamps.py): every write to the projects table, from any process, moves it, and the next
request rebuilds.

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
from sqlalchemy import select

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
    owner: str
    permissions: dict[str, Any]
    item: bytes
    item_with_location: bytes


@dataclass
class _Snapshot:
    stamp: int
    entries: list[_Entry]
    views: dict[tuple[object, bool], bytes] = field(default_factory=dict)


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


def _build(stamp: int, rows: list) -> _Snapshot:
    entries = []
    for row in rows:
        item = list_item(row)
        plain = orjson.dumps(item)
        item["projectLocation"] = location(row)
        entries.append(_Entry(row.owner, row.permissions or {}, plain, orjson.dumps(item)))
    return _Snapshot(stamp, entries)


class ProjectListCache:
    """The serialized list of one store, per worker process."""

    def __init__(self) -> None:
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def render(
        self, store: Store, principal: Principal, *, include_location: bool, stamps: Stamps | None = None
    ) -> bytes:
        stamp = (stamps if stamps is not None else store.stamps()).get(PROJECTS, 0)
        snapshot = self._snapshot
        if snapshot is None or snapshot.stamp != stamp:
            snapshot = self._rebuild(store, stamp)
        cache_key = (True if principal.admin else principal, include_location)
        answer = snapshot.views.get(cache_key)
        if answer is None:
            answer = _render(snapshot.entries, principal, include_location)
            if len(snapshot.views) >= MAX_CACHED_VIEWS:
                snapshot.views.clear()
            snapshot.views[cache_key] = answer
        return answer

    def _rebuild(self, store: Store, stamp: int) -> _Snapshot:
        """The rows read after `stamp` was: at worst newer than it, never older."""
        with store.read() as s:
            rows = s.execute(select(*_COLUMNS).order_by(Project.key)).all()
        snapshot = _build(stamp, rows)
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


def render_project_list(
    store: Store, principal: Principal, *, include_location: bool = False, stamps: Stamps | None = None
) -> bytes:
    """The list `principal` may read; `stamps` as read at the start of the request, if they were."""
    return cache_for(store).render(store, principal, include_location=include_location, stamps=stamps)
