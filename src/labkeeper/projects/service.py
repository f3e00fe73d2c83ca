"""Projects: creation, summary, deletion and their documents (metadata, settings,
permissions, variables). Every call that names a project goes through
`access.get_project_checked` at the level the action needs.

Other domains use `resolved_variables` (SQL notebooks), `code_env_usages` and
`project_env_usages_all` (code envs), and `on_project_deleted` (to clean up what they keep
for a project).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from labkeeper.auth.models import Group, User
from labkeeper.auth.principal import Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Conflict, Forbidden, NotFound
from labkeeper.names import check_name, check_project_key, check_text
from labkeeper.projects import documents as docs
from labkeeper.projects.access import Level, get_project_checked
from labkeeper.projects.envusage import code_env_usages, project_env_usages_all
from labkeeper.projects.listing import list_item, location, render_project_list
from labkeeper.projects.models import Project
from labkeeper.settings.service import get_instance_variables

__all__ = [
    "code_env_usages",
    "project_env_usages_all",
    "render_project_list",
    "resolved_variables",
    "on_project_deleted",
]

log = logging.getLogger("labkeeper.projects")
_DELETE_HOOKS: list[Callable[[str], None]] = []


def on_project_deleted(hook: Callable[[str], None]) -> None:
    """Call `hook(project_key)` after a project's deletion is committed."""
    _DELETE_HOOKS.append(hook)


def project_dir(data_dir: Path, key: str) -> Path:
    return data_dir / "projects" / check_project_key(key)


def _load(s: Session, principal: Principal, key: str, level: Level) -> Project:
    return get_project_checked(s, principal, check_project_key(key), level)


def _touch(s: Session, project: Project, principal: Principal) -> None:
    project.version += 1
    project.modified_on = now_ms()
    project.modified_by = principal.name


def _check_principals_exist(s: Session, *, owner: str | None, grants: list[dict[str, Any]]) -> None:
    if owner is not None and s.get(User, owner) is None:
        raise BadRequest(f"Invalid project owner {owner!r}: no such user")
    groups = {g["group"] for g in grants if g.get("group") is not None}
    users = {g["user"] for g in grants if g.get("user") is not None}
    if groups:
        known = set(s.scalars(select(Group.name).where(Group.name.in_(groups))))
        if missing := sorted(groups - known):
            raise BadRequest(f"Invalid permissions: no such group {', '.join(map(repr, missing))}")
    if users:
        known = set(s.scalars(select(User.login).where(User.login.in_(users))))
        if missing := sorted(users - known):
            raise BadRequest(f"Invalid permissions: no such user {', '.join(map(repr, missing))}")


def summary(project: Project) -> dict[str, Any]:
    doc = list_item(project)
    doc["description"] = (project.metadata_doc or {}).get("description", "")
    doc["projectLocation"] = location(project)
    return doc


# ---- project lifecycle ----------------------------------------------------------------


def create_project(
    store: Store, *, principal: Principal, body: dict[str, Any], folder_id: str | None = None
) -> dict[str, Any]:
    principal.require("mayCreateProjects")
    key = check_project_key(body.get("projectKey"))
    name = check_text("project name", body.get("name"), max_length=200, allow_empty=False)
    owner = body.get("owner")
    owner = (
        principal.name
        if owner is None
        else check_text("project owner", owner, max_length=100, allow_empty=False)
    )
    if owner != principal.name and not principal.admin:
        raise Forbidden(
            "Action forbidden: only an administrator can create a project owned by another user",
            detail=f"{principal.name} may create projects only with themself as owner",
        )
    description = check_text("project description", body.get("description"), max_length=docs.MAX_DESCRIPTION)
    tags = docs.check_tags("project tags", body.get("tags"))
    grants = docs.check_grants(body.get("permissions"))
    settings = docs.initial_settings(body.get("settings"))
    folder = "ROOT" if folder_id in (None, "") else check_name("projectFolderId", folder_id)
    now = now_ms()
    with store.begin() as s:
        if s.get(Project, key) is not None:
            raise Conflict(f"Project {key} already exists: choose another project key")
        # A global key with no user may own what it creates under its own name ("apikey:<id>");
        # any other owner must be an existing user.
        keyed_owner = principal.login is None and owner == principal.name
        _check_principals_exist(s, owner=None if keyed_owner else owner, grants=grants)
        project = Project(
            key=key,
            name=name,
            owner=owner,
            metadata_doc=docs.default_metadata(label=name, description=description, tags=tags),
            settings=settings,
            permissions={"owner": owner, "permissions": grants},
            variables_standard={},
            variables_local={},
            created_on=now,
            created_by=principal.name,
            modified_on=now,
            modified_by=principal.name,
            version=1,
            folder_id=folder,
            python_env=docs.explicit_env(settings, "python"),
            r_env=docs.explicit_env(settings, "r"),
        )
        s.add(project)
        s.flush()
        return summary(project)


def get_summary(store: Store, *, principal: Principal, key: str) -> dict[str, Any]:
    with store.read() as s:
        return summary(_load(s, principal, key, "READ"))


def delete_project(store: Store, *, principal: Principal, key: str, data_dir: Path) -> dict[str, Any]:
    """Delete a project and everything stored for it; answer as a finished future would."""
    with store.begin() as s:
        project = _load(s, principal, key, "ADMIN")
        s.delete(project)
    messages = []
    # Whatever still runs for the project (notebook kernels) stops before its files go.
    for hook in _DELETE_HOOKS:
        try:
            hook(project.key)
        except Exception as exc:  # the deletion is committed; report the failed cleanup
            log.exception("project %s: deletion hook failed", project.key)
            messages.append({"severity": "WARNING", "message": f"Cleanup after deletion failed: {exc}"})
    folder = project_dir(data_dir, project.key)
    removed = False
    if folder.exists() or folder.is_symlink():
        try:
            shutil.rmtree(folder)
            removed = True
        except OSError as exc:
            log.warning("project %s: could not remove %s: %s", project.key, folder, exc)
            messages.append({"severity": "WARNING", "message": f"Could not remove the project folder: {exc}"})
    result = {
        "projectKey": project.key,
        "success": True,
        "anyMessage": bool(messages),
        "warning": bool(messages),
        "error": False,
        "messages": messages,
        "dataFolderRemoved": removed,
    }
    return {
        "hasResult": True,
        "result": result,
        "alive": False,
        "aborted": False,
        "unknown": False,
        "startTime": now_ms(),
        "runningTime": 0,
        "progress": {"states": []},
    }


# ---- documents ------------------------------------------------------------------------


def get_metadata(store: Store, *, principal: Principal, key: str) -> dict[str, Any]:
    with store.read() as s:
        project = _load(s, principal, key, "READ")
        return dict(project.metadata_doc or {}, label=project.name)


def put_metadata(store: Store, *, principal: Principal, key: str, body: object) -> dict[str, Any]:
    with store.begin() as s:
        project = _load(s, principal, key, "WRITE")
        doc = docs.check_metadata(body)
        for kept in docs.METADATA_KEPT_FROM_SETTINGS:  # set through settings or /tags, not here
            if kept not in doc and kept in (project.metadata_doc or {}):
                doc[kept] = project.metadata_doc[kept]
        project.metadata_doc = doc
        project.name = doc["label"]
        _touch(s, project, principal)
    return doc


def get_settings(store: Store, *, principal: Principal, key: str) -> dict[str, Any]:
    with store.read() as s:
        return docs.settings_with_defaults(_load(s, principal, key, "READ").settings or {})


def put_settings(store: Store, *, principal: Principal, key: str, body: object) -> dict[str, Any]:
    with store.begin() as s:
        project = _load(s, principal, key, "WRITE")
        doc = docs.check_settings(body)
        if docs.node_label_change(project.settings or {}, doc) is not None:
            principal.require_admin()  # a member never moves kernels to other nodes
        project.settings = doc
        project.metadata_doc = docs.with_status(project.metadata_doc or {}, doc)
        project.python_env = docs.explicit_env(doc, "python")
        project.r_env = docs.explicit_env(doc, "r")
        _touch(s, project, principal)
    return doc


def get_permissions(store: Store, *, principal: Principal, key: str) -> dict[str, Any]:
    with store.read() as s:
        project = _load(s, principal, key, "READ")
        return dict(
            project.permissions or {},
            owner=project.owner,
            permissions=list((project.permissions or {}).get("permissions") or []),
        )


def put_permissions(store: Store, *, principal: Principal, key: str, body: object) -> dict[str, Any]:
    with store.begin() as s:
        project = _load(s, principal, key, "ADMIN")
        doc = docs.check_permissions(body)
        owner_changed = doc["owner"] != project.owner
        _check_principals_exist(s, owner=doc["owner"] if owner_changed else None, grants=doc["permissions"])
        project.permissions = doc
        project.owner = doc["owner"]
        _touch(s, project, principal)
    return doc


def get_variables(store: Store, *, principal: Principal, key: str) -> dict[str, Any]:
    with store.read() as s:
        project = _load(s, principal, key, "READ")
        return {"standard": project.variables_standard or {}, "local": project.variables_local or {}}


def put_variables(store: Store, *, principal: Principal, key: str, body: object) -> None:
    with store.begin() as s:
        project = _load(s, principal, key, "WRITE")
        standard, local = docs.check_variables(body)
        project.variables_standard = standard
        project.variables_local = local
        _touch(s, project, principal)


def resolved_variables(store: Store, project_key: str, *, typed: bool = True) -> dict[str, Any]:
    """Instance variables, overridden by the project's standard, then local, variables.

    With typed=False every value is a string (JSON text for non-string values). No
    permission check: callers have already authorised their access to the project.
    """
    instance = get_instance_variables(store)
    with store.read() as s:
        project = s.get(Project, project_key)
        if project is None:
            raise NotFound(f"Project {project_key!r} does not exist")
        resolved = {**instance, **(project.variables_standard or {}), **(project.variables_local or {})}
    if typed:
        return resolved
    return {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in resolved.items()}


def get_resolved_variables(store: Store, *, principal: Principal, key: str, typed: bool) -> dict[str, Any]:
    with store.read() as s:
        _load(s, principal, key, "READ")
    return resolved_variables(store, check_project_key(key), typed=typed)
