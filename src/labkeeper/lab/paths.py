"""Lab's API paths onto labkeeper's objects: "" is the list of projects, "KEY" a project,
"KEY/NAME.ipynb" one of its notebooks. Nothing else exists; every part passes the shared
name rule (no "..", no "/", no absolute path), so no Lab path can name a file elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from tornado import web

from labkeeper.errors import BadRequest
from labkeeper.names import check_name, check_project_key
from labkeeper.notebooks.jupyter.files import SUFFIX


@dataclass(frozen=True)
class LabPath:
    project_key: str | None = None
    notebook: str | None = None  # the notebook's labkeeper name, without ".ipynb"

    @property
    def api_path(self) -> str:
        if self.project_key is None:
            return ""
        if self.notebook is None:
            return self.project_key
        return f"{self.project_key}/{self.notebook}{SUFFIX}"

    @property
    def is_root(self) -> bool:
        return self.project_key is None

    @property
    def is_project(self) -> bool:
        return self.project_key is not None and self.notebook is None


def parse(path: str) -> LabPath:
    """The object a Lab path names; 404 for a path that can name none, 400 for a malformed part."""
    if not isinstance(path, str) or "\x00" in path or len(path) > 1024:
        raise web.HTTPError(400, "Invalid path")
    parts = [p for p in path.strip("/").split("/") if p != ""]
    if not parts:
        return LabPath()
    if len(parts) > 2 or any(p in (".", "..") for p in parts) or path.lstrip().startswith("//"):
        raise web.HTTPError(404, f"No such file or directory: {path}")
    try:
        key = check_project_key(parts[0])
        if len(parts) == 1:
            return LabPath(key)
        name = parts[1]
        if not name.endswith(SUFFIX) or name.startswith("."):
            raise web.HTTPError(404, f"Only Jupyter notebooks ({SUFFIX}) live in a project: {path}")
        return LabPath(key, check_name("notebook name", name[: -len(SUFFIX)]))
    except BadRequest as exc:
        raise web.HTTPError(400, exc.message) from None
