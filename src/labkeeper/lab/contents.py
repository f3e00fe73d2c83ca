"""Lab's contents are labkeeper's project notebooks, through the notebook service.

The file browser's root lists the projects the user may READ; a project lists its Jupyter
notebooks. Opening needs READ, saving, creating, renaming and deleting need WRITE: the very
calls the API routes make (`notebooks/jupyter/service.py`), with their nbformat validation,
atomic writes and audit. Nothing but notebooks exists here: no folders, files or uploads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import nbformat
from jupyter_server.services.contents.manager import AsyncContentsManager
from sqlalchemy import select
from tornado import web
from traitlets import Type

from labkeeper.auth.principal import Principal
from labkeeper.errors import NotFound
from labkeeper.lab import calls
from labkeeper.lab.checkpoints import LabCheckpoints
from labkeeper.lab.identity import require_principal
from labkeeper.lab.paths import LabPath, parse
from labkeeper.notebooks.jupyter import files, service
from labkeeper.notebooks.jupyter.sessions import SessionManager
from labkeeper.projects.access import can, require_project
from labkeeper.projects.models import Project

_EPOCH = datetime.fromtimestamp(0, tz=UTC)


def _time(seconds: float | None) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else _EPOCH


def readable_projects(sessions: SessionManager, principal: Principal) -> list[str]:
    """The keys of the projects `principal` may READ (decided by `projects.access.can`)."""
    with sessions.store.read() as s:
        rows = s.execute(select(Project.key, Project.owner, Project.permissions).order_by(Project.key)).all()
    return [key for key, owner, permissions in rows if can(principal, owner, permissions or {}, "READ")]


class LabContentsManager(AsyncContentsManager):
    checkpoints_class = Type(LabCheckpoints, config=True)
    sessions: SessionManager  # set by lab/server.py

    # -- what exists ---------------------------------------------------------------------------
    async def dir_exists(self, path: str) -> bool:
        where = parse(path)
        if where.is_root:
            return True
        if not where.is_project:
            return False
        principal = require_principal()
        return where.project_key in await calls.read(lambda: readable_projects(self.sessions, principal))

    async def file_exists(self, path: str = "") -> bool:
        where = parse(path)
        if where.notebook is None:
            return False
        principal = require_principal()
        try:
            await calls.read(
                lambda: require_project(self.sessions.store, principal, where.project_key, "READ")
            )
        except web.HTTPError:
            return False
        return await calls.read(lambda: self.sessions.notebooks.exists(where.project_key, where.notebook))

    async def exists(self, path: str) -> bool:
        return await self.file_exists(path) or await self.dir_exists(path)

    async def is_hidden(self, path: str) -> bool:
        return False

    def get_kernel_path(self, path: str, model: Any = None) -> str:
        # The kernel manager starts a labkeeper session of this very notebook.
        return path

    def _exists(self, where: LabPath) -> bool:
        return self.sessions.notebooks.exists(where.project_key, where.notebook or "")

    # -- models --------------------------------------------------------------------------------
    def _notebook_model(
        self, where: LabPath, content: dict[str, Any] | None, writable: bool, *, with_hash: bool = False
    ) -> dict[str, Any]:
        # Size, times and the SHA-256 Lab compares to notice a change made elsewhere: of the
        # notebook as stored (a file, or a row of the store).
        stat = self.sessions.notebooks.info(where.project_key, where.notebook or "", digest=with_hash)
        model: dict[str, Any] = {
            "name": where.api_path.rsplit("/", 1)[-1],
            "path": where.api_path,
            "type": "notebook",
            "writable": writable,
            "created": _time(stat.created if stat else None),
            "last_modified": _time(stat.modified if stat else None),
            "size": stat.size if stat else None,
            "mimetype": None,
            "content": None,
            "format": None,
            "hash": None,
            "hash_algorithm": None,
        }
        if with_hash:
            model["hash"], model["hash_algorithm"] = (stat.sha256 if stat else None), "sha256"
        if content is not None:
            model["content"] = nbformat.from_dict(content)
            model["format"] = "json"
        return model

    def _dir_model(self, where: LabPath, content: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {
            "name": where.project_key or "",
            "path": where.api_path,
            "type": "directory",
            "writable": False,
            "created": _EPOCH,
            "last_modified": _EPOCH,
            "size": None,
            "mimetype": None,
            "content": content,
            "format": "json" if content is not None else None,
            "hash": None,
            "hash_algorithm": None,
        }

    def _writable(self, principal: Principal, project_key: str) -> bool:
        try:
            require_project(self.sessions.store, principal, project_key, "WRITE")
        except Exception:  # noqa: BLE001 - any refusal: shown read-only
            return False
        return True

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        require_hash: bool = False,
        **_: Any,
    ) -> dict[str, Any]:
        where = parse(path)
        principal = require_principal()
        if where.notebook is None:
            if type not in (None, "directory"):
                raise web.HTTPError(400, f"{path or '/'} is a directory")
            return await calls.read(lambda: self._listing(principal, where, content))
        if type not in (None, "notebook"):
            raise web.HTTPError(400, f"{path} is a notebook: only type 'notebook' can be read")

        def read_one() -> dict[str, Any]:
            body = None
            if content:
                body, _stamp = service.get_notebook(
                    self.sessions, principal, where.project_key, where.notebook
                )
            else:
                require_project(self.sessions.store, principal, where.project_key, "READ")
                if not self._exists(where):
                    raise NotFound(
                        f"Jupyter notebook {where.notebook!r} does not exist in {where.project_key}"
                    )
            writable = self._writable(principal, where.project_key)
            return self._notebook_model(where, body, writable, with_hash=require_hash)

        return await calls.read(read_one)

    def _listing(self, principal: Principal, where: LabPath, content: bool) -> dict[str, Any]:
        if where.is_root:
            keys = readable_projects(self.sessions, principal)
            entries = [self._dir_model(LabPath(key), None) for key in keys] if content else None
            return self._dir_model(where, entries)
        self.sessions.check_readable(principal, where.project_key)
        entries = None
        if content:
            writable = self._writable(principal, where.project_key)
            names = self.sessions.notebooks.names(where.project_key)
            entries = [self._notebook_model(LabPath(where.project_key, n), None, writable) for n in names]
        return self._dir_model(where, entries)

    # -- changes -------------------------------------------------------------------------------
    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        where = parse(path)
        principal = require_principal()
        if where.notebook is None or model.get("type") != "notebook":
            raise web.HTTPError(
                403 if where.notebook is None else 400,
                "Only Jupyter notebooks can be saved here: projects are created through labkeeper's API",
            )
        if model.get("chunk") is not None:
            raise web.HTTPError(400, "Chunked uploads are not supported: save the notebook whole")
        body = model.get("content")
        if model.get("format") not in (None, "json") or not isinstance(body, dict):
            raise web.HTTPError(400, "A notebook is saved as JSON content (format 'json')")
        key, name = where.project_key, where.notebook

        def write() -> dict[str, Any]:
            if self._exists(where):
                service.save_notebook(self.sessions, principal, key, name, body)
            else:
                service.create_notebook(self.sessions, principal, key, name, body)
            return self._notebook_model(where, None, True, with_hash=True)

        return await calls.change(self.sessions.store, principal, "save notebook", where.api_path, write)

    async def delete_file(self, path: str) -> None:
        where = parse(path)
        principal = require_principal()
        if where.notebook is None:
            raise web.HTTPError(403, "Projects are deleted through labkeeper's API, not from Lab")

        def delete() -> Any:
            return service.delete_notebook(self.sessions, principal, where.project_key, where.notebook)

        await calls.change(self.sessions.store, principal, "delete notebook", where.api_path, delete)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        old, new = parse(old_path), parse(new_path)
        principal = require_principal()
        if old.notebook is None or new.notebook is None:
            raise web.HTTPError(403, "Only notebooks can be renamed from Lab")
        if old.project_key != new.project_key:
            raise web.HTTPError(400, "A notebook is renamed within its project, never moved to another")

        def rename() -> Any:
            return service.rename_notebook(
                self.sessions, principal, old.project_key, old.notebook, new.notebook
            )

        await calls.change(
            self.sessions.store, principal, "rename notebook", f"{old.api_path} -> {new.api_path}", rename
        )

    async def update(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        if not isinstance(model.get("path", path), str):  # Jupyter would call .strip() on it
            raise web.HTTPError(400, "Field 'path' must be a string")
        return await super().update(model, path)

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        if not isinstance(from_path, str) or not isinstance(to_path or "", str):
            raise web.HTTPError(400, "Field 'copy_from' must be a string")
        return await super().copy(from_path, to_path)

    async def new_untitled(self, path: str = "", type: str = "", ext: str = "") -> dict[str, Any]:
        if type not in ("", "notebook") or ext not in ("", files.SUFFIX):
            raise web.HTTPError(403, "Only Jupyter notebooks can be created in a project")
        if parse(path).is_root:
            raise web.HTTPError(403, "Notebooks live in projects: open a project first")
        return await super().new_untitled(path=path, type="notebook", ext=files.SUFFIX)
