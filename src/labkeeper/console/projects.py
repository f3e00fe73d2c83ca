"""Projects from the console: the list the viewer may read, and one project's permissions,
variables, Jupyter and SQL notebooks with their sessions and history, each read through the
service the API's project and notebook routes call."""

from __future__ import annotations

from typing import Any

import orjson

from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.errors import LabkeeperError
from labkeeper.names import check_project_key
from labkeeper.notebooks.jupyter import service as jupyter_service
from labkeeper.notebooks.jupyter.sessions import SessionManager
from labkeeper.notebooks.sql import service as sql_service
from labkeeper.projects import service as project_service
from labkeeper.projects.listing import render_project_list

PAGE = 100


def listing(store: Store, principal: Principal, *, offset: int) -> list[dict[str, Any]]:
    return orjson.loads(render_project_list(store, principal, limit=PAGE + 1, offset=offset))


def detail(store: Store, manager: SessionManager, principal: Principal, key: str) -> dict[str, Any]:
    key = check_project_key(key)
    summary = project_service.get_summary(store, principal=principal, key=key)
    try:
        permissions = project_service.get_permissions(store, principal=principal, key=key)
    except LabkeeperError:
        permissions = None  # needs ADMIN on the project: the page says so
    variables = project_service.get_variables(store, principal=principal, key=key)
    notebooks, _stamp = jupyter_service.list_notebooks(manager, principal, key, active=False)
    sessions: dict[str, list[dict[str, Any]]] = {}
    for session in manager.sessions_of(key, principal=principal):
        sessions.setdefault(session["notebookName"], []).append(session)
    sql_notebooks = sql_service.list_notebooks(store, principal, key)
    return {
        "project": summary,
        "permissions": permissions,
        "variables": variables,
        "notebooks": notebooks,
        "sessions": sessions,
        "sql_notebooks": sql_notebooks,
    }


def sql_history(store: Store, principal: Principal, key: str, notebook_id: str) -> dict[str, Any]:
    key = check_project_key(key)
    notebook = sql_service.get_notebook(store, principal, key, notebook_id)
    history = sql_service.get_history(store, principal, key, notebook_id)
    return {"key": key, "notebook": notebook, "history": history}
