"""Running notebooks: the live Jupyter sessions a viewer may see, their kernel logs, and
unloading them.

Listing, reading a log and stopping go through the session manager and the notebooks domain
exactly as the API's routes do (`all_sessions`, `kernellogs.read_log`, `check_may_unload`,
`unload`); a row offers its log where `kernellogs.may_read`, the rule `read_log` applies, says so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from labkeeper.auth.principal import Principal
from labkeeper.db import now_ms
from labkeeper.errors import BadRequest
from labkeeper.names import check_name, check_project_key
from labkeeper.notebooks.jupyter import kernellogs
from labkeeper.notebooks.jupyter.sessions import SessionManager
from labkeeper.projects.access import can
from labkeeper.projects.models import Project

MAX_UNLOAD_AT_ONCE = 200
SORTS = {
    "memory": (lambda s: s["kernelMemoryRss"], True),
    "cpu": (lambda s: s["kernelCpuTime"], True),
    "idle": (lambda s: s["idleMs"], True),
    "project": (lambda s: (s["projectKey"], s["notebookName"], s["sessionStartTime"]), False),
}


def visible_sessions(
    manager: SessionManager, principal: Principal, *, sort: str = "memory"
) -> list[dict[str, Any]]:
    """Every live session (admins) or those of projects the viewer may read. Blocking."""
    sessions = manager.all_sessions()
    # One read of the projects shown decides both who sees a row and who is offered its log.
    projects = _projects(manager, {s["projectKey"] for s in sessions})
    if not principal.admin:
        sessions = [
            s
            for s in sessions
            if (project := projects.get(s["projectKey"])) is not None
            and can(principal, project.owner, project.permissions or {}, "READ")
        ]
    now = now_ms()
    for session in sessions:
        last = session["kernelLastActivityTime"] or session["sessionStartTime"]
        session["idleMs"] = max(0, now - last) if last else 0
        project = projects.get(session["projectKey"])
        session["mayReadLog"] = project is not None and kernellogs.may_read(
            principal, session["sessionCreator"], project
        )
    key, reverse = SORTS.get(sort, SORTS["memory"])
    return sorted(sessions, key=key, reverse=reverse)


def _projects(manager: SessionManager, keys: set[str]) -> dict[str, Any]:
    """The owner and permissions of these projects, in one read."""
    if not keys:
        return {}
    with manager.store.read() as s:
        rows = s.execute(
            select(Project.key, Project.owner, Project.permissions).where(Project.key.in_(keys))
        ).all()
    return {row.key: row for row in rows}


def kernel_log(
    manager: SessionManager, principal: Principal, project_key: str, notebook_name: str, session_id: str
) -> dict[str, Any]:
    """A session's kernel log as the API answers it (`read_log`: its rights, 403 and 404, the
    masking). The path's names are checked first, so that no hostile value reaches the store
    (400). Blocking."""
    check_project_key(project_key)
    check_name("notebook name", notebook_name)
    check_name("session id", session_id)
    return kernellogs.read_log(manager, principal, project_key, notebook_name, session_id)


def chosen(manager: SessionManager, principal: Principal, session_ids: list[str]) -> list[dict[str, Any]]:
    """The sessions named in an unload form, each checked as the API's unload checks it."""
    if not session_ids:
        raise BadRequest("Choose at least one session to unload")
    if len(session_ids) > MAX_UNLOAD_AT_ONCE:
        raise BadRequest(f"At most {MAX_UNLOAD_AT_ONCE} sessions at once")
    live = {s["sessionId"]: s for s in manager.all_sessions()}
    picked = []
    for session_id in dict.fromkeys(session_ids):
        session = live.get(session_id)
        if session is None:
            continue  # already gone: nothing to do
        manager.check_may_unload(principal, session["projectKey"], session["notebookName"], session_id)
        picked.append(session)
    return picked


async def unload(manager: SessionManager, principal: Principal, sessions: list[dict[str, Any]]) -> int:
    for session in sessions:
        await manager.unload(session["sessionId"], reason=f"unloaded by {principal.name}", by=principal.name)
    return len(sessions)
