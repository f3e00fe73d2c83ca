"""Running notebooks: the live Jupyter sessions a viewer may see, and unloading them.

Listing and stopping go through the session manager exactly as the API's routes do
(`all_sessions`, `check_may_unload`, `unload`)."""

from __future__ import annotations

from typing import Any

from labkeeper.auth.principal import Principal
from labkeeper.db import now_ms
from labkeeper.errors import BadRequest, LabkeeperError
from labkeeper.notebooks.jupyter.sessions import SessionManager

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
    if not principal.admin:
        readable: dict[str, bool] = {}
        for key in {s["projectKey"] for s in sessions}:
            try:
                manager.check_readable(principal, key)
                readable[key] = True
            except LabkeeperError:
                readable[key] = False
        sessions = [s for s in sessions if readable[s["projectKey"]]]
    now = now_ms()
    for session in sessions:
        last = session["kernelLastActivityTime"] or session["sessionStartTime"]
        session["idleMs"] = max(0, now - last) if last else 0
    key, reverse = SORTS.get(sort, SORTS["memory"])
    return sorted(sessions, key=key, reverse=reverse)


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
