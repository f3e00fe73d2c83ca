"""The one place where project permissions are decided.

Levels: READ (see the project and its objects), WRITE (change its content, run its
notebooks), ADMIN (permissions, delete). Instance admins and the project owner have all
of them; others get what their groups' (or their own user's) grants in the project
permissions say.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session

from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.errors import Forbidden, NotFound
from labkeeper.projects.models import Project

Level = Literal["READ", "WRITE", "ADMIN"]
_GRANTS: dict[str, tuple[str, ...]] = {
    "READ": ("readProjectContent", "writeProjectContent", "admin"),
    "WRITE": ("writeProjectContent", "admin"),
    "ADMIN": ("admin",),
}


def can(principal: Principal, project_owner: str, permissions: dict[str, Any], level: Level) -> bool:
    # The owner is a user login, or "apikey:<id>" for a project a global key without a user
    # created; logins never contain ':', so the two cannot be confused.
    if principal.admin or principal.name == project_owner:
        return True
    for grant in permissions.get("permissions") or []:
        applies = grant.get("group") in principal.groups or (
            principal.login is not None and grant.get("user") == principal.login
        )
        if applies and any(grant.get(flag) for flag in _GRANTS[level]):
            return True
    return False


def get_project_checked(s: Session, principal: Principal, key: str, level: Level) -> Project:
    """Load a project the caller may act on at `level`: 404 when absent, 403 when denied."""
    project = s.get(Project, key)
    if project is None:
        raise NotFound(f"Project {key!r} does not exist")
    if not can(principal, project.owner, project.permissions or {}, level):
        raise Forbidden(
            f"Action forbidden: {level} permission on project {key} is required",
            detail=f"{principal.name} lacks {level} permission on project {key}; the project owner or "
            "an admin can grant it to one of the caller's groups",
        )
    return project


def require_project(store: Store, principal: Principal, key: str, level: Level) -> Project:
    with store.read() as s:
        return get_project_checked(s, principal, key, level)


def ensure_project_exists(store: Store, key: str) -> None:
    with store.read() as s:
        if s.get(Project, key) is None:
            raise NotFound(f"Project {key!r} does not exist")
