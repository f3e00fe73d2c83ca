"""SQL notebooks of a project: content, listing, and the history of their cells' runs.

Every call checks the project permission through `projects.access` (READ to see, WRITE to
change or run) and, when a notebook gets a connection, that the caller may use it.
"""

from __future__ import annotations

import secrets
import string
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, defer

from labkeeper.auth.principal import Principal
from labkeeper.connections import service as connections
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, NotFound
from labkeeper.futures.models import Task
from labkeeper.names import check_name, check_project_key
from labkeeper.notebooks.sql.documents import check_content
from labkeeper.notebooks.sql.models import RUNNING, SqlNotebook, SqlQueryRun
from labkeeper.projects.access import get_project_checked
from labkeeper.usage.service import register_notebook_counter

_ID_ALPHABET = string.ascii_letters + string.digits
MAX_RETAIN = 1_000_000


def new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def check_notebook_id(value: object) -> str:
    return check_name("SQL notebook id", value)


def _tag(login: str, when: int) -> dict[str, Any]:
    return {"lastModifiedBy": {"login": login}, "lastModifiedOn": when}


def to_document(notebook: SqlNotebook) -> dict[str, Any]:
    return {
        **notebook.content,
        "id": notebook.id,
        "projectKey": notebook.project_key,
        "name": notebook.name,
        "language": notebook.language,
        "connection": notebook.connection,
        "tags": list(notebook.tags or []),
        "creationTag": _tag(notebook.created_by, notebook.created_on),
        "versionTag": {"versionNumber": notebook.version, **_tag(notebook.modified_by, notebook.modified_on)},
    }


def list_item(notebook: SqlNotebook) -> dict[str, Any]:
    return {
        "projectKey": notebook.project_key,
        "id": notebook.id,
        "name": notebook.name,
        "language": notebook.language,
        "connection": notebook.connection,
        "tags": list(notebook.tags or []),
        "createdOn": notebook.created_on,
        "lastModifiedOn": notebook.modified_on,
    }


def load_notebook(s: Session, principal: Principal, key: str, notebook_id: str, level: str) -> SqlNotebook:
    key = check_project_key(key)
    get_project_checked(s, principal, key, level)  # type: ignore[arg-type]
    notebook = s.get(SqlNotebook, (key, check_notebook_id(notebook_id)))
    if notebook is None:
        raise NotFound(f"No SQL notebook {notebook_id!r} in project {key}")
    return notebook


def require_connection(store: Store, principal: Principal, name: str) -> None:
    try:
        connections.require_usable(store, principal, name)
    except NotFound:
        raise BadRequest(
            f"Connection {name!r} does not exist: an admin lists the connections at /admin/connections/"
        ) from None


def list_notebooks(store: Store, principal: Principal, key: str) -> list[dict[str, Any]]:
    key = check_project_key(key)
    with store.read() as s:
        get_project_checked(s, principal, key, "READ")
        query = (
            select(SqlNotebook)
            .where(SqlNotebook.project_key == key)
            .order_by(SqlNotebook.name, SqlNotebook.id)
        )
        return [list_item(n) for n in s.scalars(query)]


def get_notebook(store: Store, principal: Principal, key: str, notebook_id: str) -> dict[str, Any]:
    with store.read() as s:
        return to_document(load_notebook(s, principal, key, notebook_id, "READ"))


def create_notebook(store: Store, principal: Principal, key: str, body: object) -> dict[str, Any]:
    key = check_project_key(key)
    with store.read() as s:  # who may write comes before what they wrote
        get_project_checked(s, principal, key, "WRITE")
    content = check_content(body)
    require_connection(store, principal, content["connection"])
    now = now_ms()
    with store.begin() as s:
        get_project_checked(s, principal, key, "WRITE")
        notebook_id = new_id()
        while s.get(SqlNotebook, (key, notebook_id)) is not None:
            notebook_id = new_id()
        notebook = SqlNotebook(project_key=key, id=notebook_id, created_on=now, created_by=principal.name)
        _apply(notebook, content, principal, now)
        notebook.version = 1
        s.add(notebook)
        return to_document(notebook)


def _apply(notebook: SqlNotebook, content: dict[str, Any], principal: Principal, now: int) -> None:
    notebook.name = content.pop("name") or f"SQL notebook {notebook.id}"
    notebook.language = content.pop("language")
    notebook.connection = content.pop("connection")
    notebook.tags = content.pop("tags")
    notebook.content = content
    notebook.modified_on = now
    notebook.modified_by = principal.name
    notebook.version = (notebook.version or 0) + 1


def save_notebook(
    store: Store, principal: Principal, key: str, notebook_id: str, body: object
) -> dict[str, Any]:
    with store.read() as s:
        current = load_notebook(s, principal, key, notebook_id, "WRITE").connection
    content = check_content(body)
    if content["connection"] != current:
        require_connection(store, principal, content["connection"])
    with store.begin() as s:
        notebook = load_notebook(s, principal, key, notebook_id, "WRITE")
        _apply(notebook, content, principal, now_ms())
        return to_document(notebook)


def delete_notebook(store: Store, principal: Principal, key: str, notebook_id: str) -> list[str]:
    """Delete the notebook and its history; returns the jobs of its runs still running."""
    with store.begin() as s:
        notebook = load_notebook(s, principal, key, notebook_id, "WRITE")
        running = s.scalars(
            select(SqlQueryRun.job_id).where(
                SqlQueryRun.project_key == notebook.project_key,
                SqlQueryRun.notebook_id == notebook.id,
                SqlQueryRun.state == RUNNING,
            )
        ).all()
        s.execute(
            delete(SqlQueryRun).where(
                SqlQueryRun.project_key == notebook.project_key, SqlQueryRun.notebook_id == notebook.id
            )
        )
        s.delete(notebook)
    return [job for job in running if job]


# ---- history ---------------------------------------------------------------------------


def run_item(run: SqlQueryRun, *, state: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": run.id,
        "cellId": run.cell_id,
        "runOn": run.run_on,
        "runBy": run.run_by,
        "state": state or run.state,
        "sql": run.sql,
        "expandedSql": run.expanded_sql,
        "connection": run.connection,
        "jobId": run.job_id,
        "endedOn": run.ended_on,
        "durationMs": run.duration_ms,
        "rowCount": run.row_count,
        "rowCountIsLowerBound": bool(run.row_count_is_lower_bound),
        "hasResultSet": run.has_result_set,
        "columns": list(run.columns or []),
        "rowsKept": run.rows_kept,
        "truncated": run.has_result_set and run.row_count > run.rows_kept,
    }
    if run.error:
        item["error"] = run.error
    return item


def _runs_query(notebook: SqlNotebook, *, with_rows: bool = False) -> Any:
    query = select(SqlQueryRun).where(
        SqlQueryRun.project_key == notebook.project_key, SqlQueryRun.notebook_id == notebook.id
    )
    return query if with_rows else query.options(defer(SqlQueryRun.rows))


def _live_states(s: Session, runs: list[SqlQueryRun]) -> dict[str, str]:
    """The state of runs recorded as RUNNING, as their futures say (a restart or an abort
    may have ended them before the run itself could write its outcome)."""
    jobs = [r.job_id for r in runs if r.state == RUNNING and r.job_id]
    if not jobs:
        return {}
    tasks = dict(s.execute(select(Task.id, Task.state).where(Task.id.in_(jobs))).all())
    states = {}
    for run in runs:
        if run.state == RUNNING and run.job_id:
            task_state = tasks.get(run.job_id, "FAILED")
            if task_state != RUNNING:
                states[run.id] = task_state
    return states


def get_history(
    store: Store, principal: Principal, key: str, notebook_id: str
) -> dict[str, list[dict[str, Any]]]:
    with store.read() as s:
        notebook = load_notebook(s, principal, key, notebook_id, "READ")
        runs = list(s.scalars(_runs_query(notebook).order_by(SqlQueryRun.run_on.desc(), SqlQueryRun.id)))
        live = _live_states(s, runs)
    history: dict[str, list[dict[str, Any]]] = {
        cell["id"]: [] for cell in notebook.content.get("cells", []) if cell.get("type") == "QUERY"
    }
    for run in runs:
        history.setdefault(run.cell_id, []).append(run_item(run, state=live.get(run.id)))
    return history


def get_run(store: Store, principal: Principal, key: str, notebook_id: str, run_id: str) -> dict[str, Any]:
    with store.read() as s:
        notebook = load_notebook(s, principal, key, notebook_id, "READ")
        run = s.scalar(_runs_query(notebook, with_rows=True).where(SqlQueryRun.id == run_id))
        if run is None:
            raise NotFound(
                f"No run {run_id!r} in SQL notebook {notebook.id} of project {notebook.project_key}"
            )
        live = _live_states(s, [run])
    return {**run_item(run, state=live.get(run.id)), "rows": list(run.rows or [])}


def _check_writable(store: Store, principal: Principal, key: str, notebook_id: str) -> None:
    with store.read() as s:
        load_notebook(s, principal, key, notebook_id, "WRITE")


def save_history(store: Store, principal: Principal, key: str, notebook_id: str, body: object) -> None:
    """Keep exactly the runs the body lists (runs still running are always kept)."""
    _check_writable(store, principal, key, notebook_id)
    if not isinstance(body, dict):
        raise BadRequest("A SQL notebook history must be a JSON object mapping cell ids to lists of runs")
    keep: set[str] = set()
    for cell_id, runs in body.items():
        if not isinstance(runs, list):
            raise BadRequest(f"Invalid history of cell {cell_id!r}: a list of runs is required")
        for run in runs:
            if not isinstance(run, dict) or not isinstance(run.get("id"), str):
                raise BadRequest(
                    f"Invalid history of cell {cell_id!r}: each run must be an object with its 'id'"
                )
            keep.add(run["id"])
    with store.begin() as s:
        notebook = load_notebook(s, principal, key, notebook_id, "WRITE")
        doomed = s.scalars(
            select(SqlQueryRun.id).where(
                SqlQueryRun.project_key == notebook.project_key,
                SqlQueryRun.notebook_id == notebook.id,
                SqlQueryRun.state != RUNNING,
            )
        ).all()
        doomed = [run_id for run_id in doomed if run_id not in keep]
        if doomed:
            s.execute(delete(SqlQueryRun).where(SqlQueryRun.id.in_(doomed)))


def clear_history(store: Store, principal: Principal, key: str, notebook_id: str, body: object) -> None:
    """Delete the runs of one cell (or of every cell) but the `numRunsToRetain` most recent."""
    _check_writable(store, principal, key, notebook_id)
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object: {cellId, numRunsToRetain}")
    cell_id = body.get("cellId")
    if cell_id is not None:
        cell_id = check_name("cell id", cell_id)
    retain = body.get("numRunsToRetain", 0)
    retain = 0 if retain is None else retain
    if isinstance(retain, bool) or not isinstance(retain, int) or not 0 <= retain <= MAX_RETAIN:
        raise BadRequest(f"numRunsToRetain must be an integer between 0 and {MAX_RETAIN}, got {retain!r}")
    with store.begin() as s:
        notebook = load_notebook(s, principal, key, notebook_id, "WRITE")
        query = select(SqlQueryRun.id, SqlQueryRun.cell_id).where(
            SqlQueryRun.project_key == notebook.project_key,
            SqlQueryRun.notebook_id == notebook.id,
            SqlQueryRun.state != RUNNING,
        )
        if cell_id is not None:
            cells = {c.get("id") for c in notebook.content.get("cells", [])}
            if (
                cell_id not in cells
                and s.scalar(query.where(SqlQueryRun.cell_id == cell_id).limit(1)) is None
            ):
                raise NotFound(f"No cell {cell_id!r} in SQL notebook {notebook.id}")
            query = query.where(SqlQueryRun.cell_id == cell_id)
        per_cell: dict[str, list[str]] = defaultdict(list)
        for run_id, run_cell in s.execute(query.order_by(SqlQueryRun.run_on.desc(), SqlQueryRun.id)):
            per_cell[run_cell].append(run_id)
        doomed = [run_id for ids in per_cell.values() for run_id in ids[retain:]]
        for start in range(0, len(doomed), 500):
            s.execute(delete(SqlQueryRun).where(SqlQueryRun.id.in_(doomed[start : start + 500])))


# ---- usage -----------------------------------------------------------------------------


def count_by_project(s: Session) -> dict[str, int]:
    query = select(SqlNotebook.project_key, func.count()).group_by(SqlNotebook.project_key)
    return {key: n for key, n in s.execute(query)}


register_notebook_counter("nbSqlNotebooks", count_by_project)
