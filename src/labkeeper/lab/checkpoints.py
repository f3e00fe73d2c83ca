"""Checkpoints of Lab's notebooks: one per notebook, as Jupyter keeps by default, stored by
the server under `data_dir/jupyter/checkpoints/<KEY>/<name>.ipynb` (closed to kernels, never
listed as a notebook). Making one needs READ (it copies what the user can read and touches
nothing they see); restoring one is a save of the notebook, so it needs WRITE.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado import web

from labkeeper.lab import calls
from labkeeper.lab.identity import require_principal
from labkeeper.lab.paths import LabPath, parse
from labkeeper.names import check_name, check_project_key
from labkeeper.notebooks.jupyter import files, service
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


class LabCheckpoints(AsyncCheckpoints):
    def _notebook(self, path: str) -> LabPath:
        where = parse(path)
        if where.notebook is None:
            raise web.HTTPError(400, "Only notebooks have checkpoints")
        return where

    def _where(self, contents_mgr: Any, where: LabPath) -> Path:
        return checkpoint_path(contents_mgr.sessions.config.data_dir, where.project_key, where.notebook)

    @staticmethod
    def _model(path: Path) -> dict[str, Any]:
        stat = os.stat(path)
        return {"id": CHECKPOINT_ID, "last_modified": datetime.fromtimestamp(stat.st_mtime, tz=UTC)}

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        where, principal = self._notebook(path), require_principal()
        sessions = contents_mgr.sessions
        target = self._where(contents_mgr, where)

        def copy() -> dict[str, Any]:
            content, _stamp = service.get_notebook(sessions, principal, where.project_key, where.notebook)
            files.write(target, content)
            return self._model(target)

        return await calls.read(copy)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        where, principal = self._notebook(path), require_principal()
        if checkpoint_id != CHECKPOINT_ID:
            raise web.HTTPError(404, f"No checkpoint {checkpoint_id!r}")
        sessions = contents_mgr.sessions
        source = self._where(contents_mgr, where)

        def restore() -> Any:
            require_project(sessions.store, principal, where.project_key, "WRITE")
            content = files.read(source)
            return service.save_notebook(sessions, principal, where.project_key, where.notebook, content)

        await calls.change(sessions.store, principal, "restore checkpoint", where.api_path, restore)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        old, new = self._notebook(old_path), self._notebook(new_path)
        data_dir = self.parent.sessions.config.data_dir
        source = checkpoint_path(data_dir, old.project_key, old.notebook)
        if source.exists():
            os.replace(source, checkpoint_path(data_dir, new.project_key, new.notebook))

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        where, principal = self._notebook(path), require_principal()
        sessions = self.parent.sessions

        def delete() -> None:
            require_project(sessions.store, principal, where.project_key, "WRITE")
            checkpoint_path(sessions.config.data_dir, where.project_key, where.notebook).unlink(
                missing_ok=True
            )

        await calls.read(delete)

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        where, principal = self._notebook(path), require_principal()
        sessions = self.parent.sessions
        target = checkpoint_path(sessions.config.data_dir, where.project_key, where.notebook)

        def listing() -> list[dict[str, Any]]:
            require_project(sessions.store, principal, where.project_key, "READ")
            return [self._model(target)] if target.is_file() else []

        return await calls.read(listing)
