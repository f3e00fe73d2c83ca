"""Jupyter notebooks of a project: list, read, create, save, delete, clear outputs.

Reading needs READ on the project, every change WRITE (through `projects.access`).
Deleting a notebook stops its sessions first.
"""

from __future__ import annotations

from typing import Any

from labkeeper.auth.principal import Principal
from labkeeper.db import now_ms
from labkeeper.errors import Conflict, NotFound
from labkeeper.notebooks.jupyter import files, rights
from labkeeper.notebooks.jupyter.sessions import SessionManager
from labkeeper.projects.access import require_project


def list_notebooks(
    manager: SessionManager, principal: Principal, project_key: str, *, active: bool
) -> tuple[list[dict[str, Any]], tuple]:
    """The project's notebooks, and the stamp of their files (server/answers.py)."""
    manager.check_readable(principal, project_key)
    names, stamp = manager.notebooks.listing(project_key)
    if active:
        running = manager.active_counts(project_key)
        names = [n for n in names if running.get(n)]
    items = []
    for name in names:
        try:
            content = manager.notebooks.read(project_key, name)
        except (NotFound, ValueError):
            continue  # removed meanwhile, or a file that is not JSON: not a notebook
        items.append(files.list_item(project_key, name, content))
    return items, stamp


def get_notebook(
    manager: SessionManager, principal: Principal, project_key: str, name: str
) -> tuple[dict[str, Any], tuple]:
    """The notebook, and the stamp of its file (server/answers.py)."""
    require_project(manager.store, principal, project_key, "READ")
    stamp = manager.notebooks.stamp(project_key, name)
    return manager.notebooks.read(project_key, name), stamp


def _stamp(content: dict[str, Any], principal: Principal, *, created: bool) -> None:
    metadata = content.setdefault("metadata", {})
    if created:
        metadata["creator"] = principal.name
        metadata["createdOn"] = now_ms()
    metadata["modifiedBy"] = principal.name
    metadata["modifiedOn"] = now_ms()


def create_notebook(
    manager: SessionManager, principal: Principal, project_key: str, name: str, content: Any
) -> dict[str, Any]:
    require_project(manager.store, principal, project_key, "WRITE")
    files.validate(content)
    if manager.notebooks.exists(project_key, name):
        raise Conflict(f"Jupyter notebook {name!r} already exists in project {project_key}")
    _stamp(content, principal, created=True)
    manager.notebooks.create(project_key, name, content)
    return files.list_item(project_key, name, content)


def save_notebook(
    manager: SessionManager, principal: Principal, project_key: str, name: str, content: Any
) -> dict[str, Any]:
    require_project(manager.store, principal, project_key, "WRITE")
    files.validate(content)
    previous = manager.notebooks.read(project_key, name)  # 404 when absent: saving never creates
    metadata = content.setdefault("metadata", {})
    for field in ("creator", "createdOn"):
        if field in (previous.get("metadata") or {}):
            metadata.setdefault(field, previous["metadata"][field])
    _stamp(content, principal, created=False)
    manager.notebooks.write(project_key, name, content)
    return files.list_item(project_key, name, content)


async def delete_notebook(
    manager: SessionManager, principal: Principal, project_key: str, name: str
) -> dict[str, Any]:
    require_project(manager.store, principal, project_key, "WRITE")
    if not manager.notebooks.exists(project_key, name):
        raise NotFound(f"Jupyter notebook {name!r} does not exist in project {project_key}")
    stopped = []
    for session in manager.sessions_of(project_key, name):
        await manager.unload(session["sessionId"], reason="its notebook was deleted", by=principal.name)
        stopped.append(session["sessionId"])
    manager.notebooks.delete(project_key, name)
    return {"projectKey": project_key, "name": name, "deleted": True, "stoppedSessions": stopped}


def rename_notebook(
    manager: SessionManager, principal: Principal, project_key: str, name: str, new_name: str
) -> dict[str, Any]:
    """Rename a notebook within its project (WRITE). Never replaces another notebook; its
    running sessions follow it under the new name."""
    require_project(manager.store, principal, project_key, "WRITE")
    content = manager.notebooks.rename(project_key, name, new_name)
    manager.notebook_renamed(project_key, name, new_name)
    return files.list_item(project_key, new_name, content)


def clear_outputs(
    manager: SessionManager, principal: Principal, project_key: str, name: str
) -> dict[str, Any]:
    require_project(manager.store, principal, project_key, "WRITE")
    content = manager.notebooks.read(project_key, name)
    cleared = files.clear_outputs(content)
    _stamp(content, principal, created=False)
    manager.notebooks.write(project_key, name, content)
    return {"projectKey": project_key, "name": name, "clearedCells": cleared}


def notebook_state(manager: SessionManager, project_key: str, name: str) -> dict[str, Any]:
    """The legacy notebook state: the list item plus `activeSessions`."""
    content = manager.notebooks.read(project_key, name)
    return {
        **files.list_item(project_key, name, content),
        "activeSessions": manager.sessions_of(project_key, name),
    }


def running_notebooks(manager: SessionManager, project_key: str | None = None) -> list[dict[str, Any]]:
    """The notebooks with live sessions (of one project, or all), each with its sessions."""
    by_notebook: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for session in manager.all_sessions():
        if project_key is not None and session["projectKey"] != project_key:
            continue
        by_notebook.setdefault((session["projectKey"], session["notebookName"]), []).append(session)
    answer = []
    for (project_key, name), sessions in sorted(by_notebook.items()):
        try:
            content = manager.notebooks.read(project_key, name)
            item = files.list_item(project_key, name, content)
        except NotFound:
            item = {
                "projectKey": project_key,
                "name": name,
                "language": "python",
                "kernelSpec": {},
                "tags": [],
            }
        answer.append({**item, "activeSessions": sessions})
    return answer


def usable_kernelspecs(
    manager: SessionManager, principal: Principal
) -> tuple[dict[str, dict[str, Any]], tuple]:
    """Every kernelspec the caller could start (code envs they may not use are left out), and
    the stamp of the spec files (server/answers.py)."""
    stamp = manager.specs.specs_stamp()
    found = manager.specs.all_with_envs()
    usable = rights.usable_envs(manager.store, principal, {env for _, _, env in found if env is not None})
    return {name: spec for name, spec, env in found if env is None or env in usable}, stamp
