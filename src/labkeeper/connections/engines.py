"""SQLAlchemy engines of the registered connections, one per connection and version.

`Databases` belongs to one app (`app.state.databases`) and is found again by operations
running in the task runner through `databases_for(ctx.store)`: operations receive JSON-able
arguments only, and run on whichever node picked them, with that node's store.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from labkeeper.connections import sqlite_guard
from labkeeper.connections.documents import (
    POSTGRESQL,
    SQL_DIR,
    SQLITE,
    database_of,
    properties_of,
    sqlite_path,
)
from labkeeper.connections.service import ConnectionSpec, protected_files, spec_for_use
from labkeeper.db import Store

_REGISTRY: dict[int, Databases] = {}
_REGISTRY_LOCK = threading.Lock()


def databases_for(store: Store) -> Databases:
    """The engines of the app (of this node) whose store is `store`."""
    with _REGISTRY_LOCK:
        databases = _REGISTRY.get(id(store))
    if databases is None:
        raise RuntimeError("the connections of this node are not started")
    return databases


class Databases:
    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = data_dir
        self.id = secrets.token_hex(8)
        self._engines: dict[str, tuple[str, Engine]] = {}
        self._lock = threading.Lock()

    def register(self) -> None:
        with _REGISTRY_LOCK:
            _REGISTRY[id(self.store)] = self

    def close(self) -> None:
        with _REGISTRY_LOCK:
            if _REGISTRY.get(id(self.store)) is self:
                del _REGISTRY[id(self.store)]
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for _, engine in engines:
            engine.dispose()

    def spec(self, name: str) -> ConnectionSpec:
        return spec_for_use(self.store, self.data_dir, name)

    def protected_files(self) -> list[Path]:
        return protected_files(self.store, self.data_dir)

    def engine_for(self, spec: ConnectionSpec) -> Engine:
        # Keyed by everything the engine is built from, so an edit, or a connection deleted
        # and created again under the same name, never reuses a stale engine.
        fingerprint = hashlib.sha256(
            orjson.dumps([spec.type, spec.params, spec.password], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        with self._lock:
            cached = self._engines.get(spec.name)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            engine = build_engine(self.data_dir, spec, self.store)
            self._engines[spec.name] = (fingerprint, engine)
        if cached is not None:
            cached[1].dispose()
        return engine


def build_engine(data_dir: Path, spec: ConnectionSpec, store: Store) -> Engine:
    if spec.type == SQLITE:
        shown = str(spec.params.get("path"))
        path = sqlite_path(data_dir, spec.params.get("path"), protected_files(store, data_dir))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        root = (data_dir / SQL_DIR).resolve()

        def confined() -> sqlite_guard.GuardedConnection:
            # Checked again at every open: a link placed after the connection was saved
            # is refused at the next run.
            return sqlite_guard.open_confined(root, path, protected_files(store, data_dir), shown)

        # One connection per run (opening a SQLite file costs microseconds), so the
        # progress handler and interrupt of one run never touch another.
        return sa.create_engine("sqlite://", poolclass=NullPool, creator=confined)
    if spec.type == POSTGRESQL:
        params = spec.params
        url = sa.URL.create(
            "postgresql+psycopg",
            username=params.get("user") or None,
            host=params.get("host"),
            port=int(params.get("port") or 5432),
            database=database_of(params),
        )
        # No automatic server-side preparing: cells are one-off statements, and every run
        # ends with DISCARD ALL (see query.py).
        connect_args: dict[str, Any] = {
            "connect_timeout": 10,
            "application_name": "labkeeper",
            "prepare_threshold": None,
        }
        connect_args.update(properties_of(params))
        if spec.password:
            connect_args["password"] = spec.password  # never in the URL, so never in a repr
        return sa.create_engine(
            url,
            connect_args=connect_args,
            pool_size=5,
            max_overflow=10,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
    raise ValueError(f"unsupported connection type {spec.type!r}")
