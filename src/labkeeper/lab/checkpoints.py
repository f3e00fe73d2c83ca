"""Checkpoints of Lab's notebooks: one per notebook, as Jupyter keeps by default, kept where
the notebooks are. With notebooks in files, under
`data_dir/jupyter/checkpoints/<KEY>/<name>.ipynb` (closed to kernels, never listed as a
notebook); with notebooks in the store, in `jupyter_checkpoints`, so a checkpoint made
through one API node is listed, restored and deleted through any other. Making one needs
READ (it copies what the user can read and touches nothing they see); listing needs READ;
restoring one is a save of the notebook, so it needs WRITE, as deleting one does.
"""

from __future__ import annotations

import abc
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from sqlalchemy import delete, update
from tornado import web

from labkeeper.db import Store, now_ms
from labkeeper.lab import calls
from labkeeper.lab.identity import require_principal
from labkeeper.lab.paths import LabPath, parse
from labkeeper.names import check_name, check_project_key
from labkeeper.notebooks.jupyter import files, service
from labkeeper.notebooks.jupyter.models import StoredCheckpoint
from labkeeper.notebooks.jupyter.sessions import SessionManager
from labkeeper.notebooks.jupyter.storage import StoreNotebooks
from labkeeper.projects.access import require_project

CHECKPOINT_ID = "checkpoint"


def checkpoint_path(data_dir: Path, project_key: str, name: str) -> Path:
    return (
        Path(data_dir)
        / "jupyter"
        / "checkpoints"
        / check_project_key(project_key)
        / (check_name("notebook name", name) + files.SUFFIX)
    )


def forget_project(data_dir: Path, project_key: str) -> None:
    folder = Path(data_dir) / "jupyter" / "checkpoints" / project_key
    for entry in folder.glob(f"*{files.SUFFIX}"):
        entry.unlink(missing_ok=True)


class CheckpointKeeper(abc.ABC):
    """Where the one checkpoint of each notebook is kept (blocking methods; names checked)."""

    @abc.abstractmethod
    def write(self, project_key: str, name: str, content: dict[str, Any]) -> datetime: ...

    @abc.abstractmethod
    def read(self, project_key: str, name: str) -> dict[str, Any]:
        """The checkpoint's document; a 404 when there is none."""

    @abc.abstractmethod
    def modified(self, project_key: str, name: str) -> datetime | None:
        """When the checkpoint was made; None when there is none."""

    @abc.abstractmethod
    def delete(self, project_key: str, name: str) -> None: ...

    @abc.abstractmethod
    def rename(self, project_key: str, name: str, new_project_key: str, new_name: str) -> None: ...


class FileCheckpoints(CheckpointKeeper):
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def _path(self, project_key: str, name: str) -> Path:
        return checkpoint_path(self.data_dir, project_key, name)

    def write(self, project_key: str, name: str, content: dict[str, Any]) -> datetime:
        target = self._path(project_key, name)
        files.write(target, content)
        return self.modified(project_key, name) or datetime.now(tz=UTC)

    def read(self, project_key: str, name: str) -> dict[str, Any]:
        return files.read(self._path(project_key, name))

    def modified(self, project_key: str, name: str) -> datetime | None:
        try:
            return datetime.fromtimestamp(os.stat(self._path(project_key, name)).st_mtime, tz=UTC)
        except FileNotFoundError:
            return None

    def delete(self, project_key: str, name: str) -> None:
        self._path(project_key, name).unlink(missing_ok=True)

    def rename(self, project_key: str, name: str, new_project_key: str, new_name: str) -> None:
        source = self._path(project_key, name)
        if source.exists():
            os.replace(source, self._path(new_project_key, new_name))


def _checked(project_key: str, name: str) -> tuple[str, str]:
    return check_project_key(project_key), check_name("notebook name", name)


class StoreCheckpoints(CheckpointKeeper):
    def __init__(self, store: Store) -> None:
        self.store = store

    def write(self, project_key: str, name: str, content: dict[str, Any]) -> datetime:
        project_key, name = _checked(project_key, name)
        data = orjson.dumps(content).decode()  # a notebook read from the store: already bounded
        stamp = now_ms()
        with self.store.begin() as s:
            done = s.execute(
                update(StoredCheckpoint)
                .where(StoredCheckpoint.project_key == project_key, StoredCheckpoint.name == name)
                .values(content=data, size=len(data), modified_on=stamp)
            )
            if not done.rowcount:
                s.add(
                    StoredCheckpoint(
                        project_key=project_key, name=name, content=data, size=len(data), modified_on=stamp
                    )
                )
        return datetime.fromtimestamp(stamp / 1000, tz=UTC)

    def _row(self, project_key: str, name: str) -> StoredCheckpoint | None:
        with self.store.read() as s:
            return s.get(StoredCheckpoint, _checked(project_key, name))

    def read(self, project_key: str, name: str) -> dict[str, Any]:
        row = self._row(project_key, name)
        if row is None:
            raise web.HTTPError(404, f"No checkpoint of notebook {name!r}")
        return orjson.loads(row.content)

    def modified(self, project_key: str, name: str) -> datetime | None:
        row = self._row(project_key, name)
        return None if row is None else datetime.fromtimestamp(row.modified_on / 1000, tz=UTC)

    def delete(self, project_key: str, name: str) -> None:
        project_key, name = _checked(project_key, name)
        with self.store.begin() as s:
            s.execute(
                delete(StoredCheckpoint).where(
                    StoredCheckpoint.project_key == project_key, StoredCheckpoint.name == name
                )
            )

    def rename(self, project_key: str, name: str, new_project_key: str, new_name: str) -> None:
        project_key, name = _checked(project_key, name)
        new_project_key, new_name = _checked(new_project_key, new_name)
        with self.store.begin() as s:  # the renamed notebook's old checkpoint, if any, goes
            s.execute(
                delete(StoredCheckpoint).where(
                    StoredCheckpoint.project_key == new_project_key, StoredCheckpoint.name == new_name
                )
            )
            s.execute(
                update(StoredCheckpoint)
                .where(StoredCheckpoint.project_key == project_key, StoredCheckpoint.name == name)
                .values(project_key=new_project_key, name=new_name)
            )


def keeper_of(sessions: SessionManager) -> CheckpointKeeper:
    """Checkpoints are kept where the instance keeps its notebooks."""
    if isinstance(sessions.notebooks, StoreNotebooks):
        return StoreCheckpoints(sessions.store)
    return FileCheckpoints(sessions.config.data_dir)


class LabCheckpoints(AsyncCheckpoints):
    def _notebook(self, path: str) -> LabPath:
        where = parse(path)
        if where.notebook is None:
            raise web.HTTPError(400, "Only notebooks have checkpoints")
        return where

    @staticmethod
    def _model(modified: datetime) -> dict[str, Any]:
        return {"id": CHECKPOINT_ID, "last_modified": modified}

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        where, principal = self._notebook(path), require_principal()
        sessions = contents_mgr.sessions

        def copy() -> dict[str, Any]:
            content, _stamp = service.get_notebook(sessions, principal, where.project_key, where.notebook)
            return self._model(keeper_of(sessions).write(where.project_key, where.notebook, content))

        return await calls.read(copy)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        where, principal = self._notebook(path), require_principal()
        if checkpoint_id != CHECKPOINT_ID:
            raise web.HTTPError(404, f"No checkpoint {checkpoint_id!r}")
        sessions = contents_mgr.sessions

        def restore() -> Any:
            require_project(sessions.store, principal, where.project_key, "WRITE")
            content = keeper_of(sessions).read(where.project_key, where.notebook)
            return service.save_notebook(sessions, principal, where.project_key, where.notebook, content)

        await calls.change(sessions.store, principal, "restore checkpoint", where.api_path, restore)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        # Called by the contents manager once it has renamed the notebook (WRITE checked there).
        old, new = self._notebook(old_path), self._notebook(new_path)
        keeper = keeper_of(self.parent.sessions)
        await calls.read(lambda: keeper.rename(old.project_key, old.notebook, new.project_key, new.notebook))

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        where, principal = self._notebook(path), require_principal()
        sessions = self.parent.sessions

        def delete_one() -> None:
            require_project(sessions.store, principal, where.project_key, "WRITE")
            keeper_of(sessions).delete(where.project_key, where.notebook)

        await calls.read(delete_one)

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        where, principal = self._notebook(path), require_principal()
        sessions = self.parent.sessions

        def listing() -> list[dict[str, Any]]:
            require_project(sessions.store, principal, where.project_key, "READ")
            modified = keeper_of(sessions).modified(where.project_key, where.notebook)
            return [] if modified is None else [self._model(modified)]

        return await calls.read(listing)
