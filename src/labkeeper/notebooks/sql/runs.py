"""Running one cell: checks and variable expansion at once, the query itself as a future.

`start_run` records the run as RUNNING and submits the `sql-notebooks.run-cell`
operation, which opens the notebook's connection, runs the expanded SQL, keeps the first
`sqlNotebooks.maxRowsKept` rows, and writes the outcome (DONE, FAILED with the database's
message, or ABORTED) to the run. An abort of the future cancels the query on the database.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import defer

from labkeeper.auth.principal import Principal
from labkeeper.connections.documents import SQLITE
from labkeeper.connections.engines import Databases, databases_for
from labkeeper.connections.query import (
    Canceller,
    QueryCancelled,
    QueryFailed,
    QueryRefused,
    run_query,
    vet_sqlite,
)
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, LabkeeperError, NotFound
from labkeeper.futures.runner import (
    InputRefused,
    OperationError,
    Submission,
    TaskAborted,
    TaskRunner,
    operation,
)
from labkeeper.names import check_name
from labkeeper.notebooks.sql.documents import QUERY, code_text
from labkeeper.notebooks.sql.models import ABORTED, DONE, FAILED, RUNNING, SqlQueryRun
from labkeeper.notebooks.sql.service import load_notebook, require_connection, run_item
from labkeeper.projects.service import resolved_variables
from labkeeper.settings.service import get_general_settings

KIND = "sql-notebooks.run-cell"
SESSION_PREFIX = "labkeeper-sqlrun-"  # application_name of a run's PostgreSQL backend
log = logging.getLogger("labkeeper.sql-notebooks")
_VARIABLE = re.compile(r"\$\{([^${}]+)\}")


def expand_variables(sql: str, variables: dict[str, str]) -> str:
    missing = sorted({name for name in _VARIABLE.findall(sql) if name not in variables})
    if missing:
        raise BadRequest(
            "Undefined variables in the cell: "
            + ", ".join(f"${{{name}}}" for name in missing)
            + "; define them in the project variables or the instance variables"
        )
    return _VARIABLE.sub(lambda m: variables[m.group(1)], sql)


def start_run(
    store: Store,
    runner: TaskRunner,
    databases: Databases,
    principal: Principal,
    key: str,
    notebook_id: str,
    cell_id: str,
) -> str:
    """Check, expand, record and submit; returns the future's id."""
    cell_id = check_name("cell id", cell_id)
    with store.read() as s:
        notebook = load_notebook(s, principal, key, notebook_id, "WRITE")
        key, notebook_id, connection = notebook.project_key, notebook.id, notebook.connection
        cell = next((c for c in notebook.content.get("cells", []) if c.get("id") == cell_id), None)
    if cell is None:
        raise NotFound(f"No cell {cell_id!r} in SQL notebook {notebook_id} of project {key}")
    if cell.get("type", QUERY) != QUERY:
        raise BadRequest(f"Cell {cell_id!r} is a {cell.get('type')} cell: only QUERY cells run")
    sql = code_text(cell.get("code") or "")
    if not sql.strip():
        raise BadRequest(f"Cell {cell_id!r} has no SQL to run")
    require_connection(store, principal, connection)
    expanded = expand_variables(sql, resolved_variables(store, key, typed=False))
    _vet(databases, connection, expanded)
    limits = get_general_settings(store)["sqlNotebooks"]
    max_rows = int(limits.get("maxRowsKept", 1000))
    max_bytes = int(limits.get("maxBytesKept", 10_000_000))
    run_id = secrets.token_hex(8)
    with store.begin() as s:
        s.add(
            SqlQueryRun(
                id=run_id,
                project_key=key,
                notebook_id=notebook_id,
                cell_id=cell_id,
                connection=connection,
                run_on=now_ms(),
                run_by=principal.name,
                state=RUNNING,
                sql=sql,
                expanded_sql=expanded,
                columns=[],
                rows=[],
            )
        )
    job_id = runner.submit(
        Submission(
            kind=KIND,
            args={
                "runId": run_id,
                "connection": connection,
                "sql": expanded,
                "maxRows": max_rows,
                "maxBytes": max_bytes,
            },
            owner=principal.name,
            target={
                "projectKey": key,
                "objectType": "SQL_NOTEBOOK",
                "objectId": notebook_id,
                "cellId": cell_id,
            },
            display_name=f"Run of cell {cell_id} of SQL notebook {key}.{notebook_id}",
        )
    )
    # The run records its future's id itself, from the task's thread: more work here, on
    # the event loop, would only compete with that thread for the interpreter.
    return job_id


def _vet(databases: Databases, connection: str, sql: str) -> None:
    """A cell that would reach beyond its SQLite database is a 400, before anything runs."""
    spec = databases.spec(connection)
    if spec.type != SQLITE:
        return
    try:
        vet_sqlite(databases.engine_for(spec), sql)
    except QueryRefused as exc:
        raise BadRequest(f"Refused SQL: {exc}") from None
    except QueryFailed:
        pass  # the database cannot be opened: the run says why


def _record(
    store: Store, run_id: str, values: dict[str, Any], *, read_back: bool = True
) -> SqlQueryRun | None:
    with store.begin() as s:
        s.execute(update(SqlQueryRun).where(SqlQueryRun.id == run_id).values(**values))
        if not read_back:
            return None
        return s.scalar(select(SqlQueryRun).options(defer(SqlQueryRun.rows)).where(SqlQueryRun.id == run_id))


@operation(KIND)
def run_cell_operation(ctx: Any, args: dict[str, Any]) -> dict[str, Any]:
    _record(ctx.store, args["runId"], {"job_id": ctx.task_id}, read_back=False)
    canceller = Canceller()
    unregister = ctx.on_abort(canceller.request)
    if ctx.should_abort():
        canceller.request()
    started = time.monotonic()
    try:
        values = _execute(databases_for(ctx.store), args, canceller)
    except Exception as exc:  # noqa: BLE001 - whatever happens, the run gets an outcome
        log.exception("run %s of a SQL notebook cell failed", args["runId"])
        values = {"state": FAILED, "error": f"Internal error: {type(exc).__name__}"}
    finally:
        unregister()
    if ctx.should_abort():
        values["state"] = ABORTED
        if ctx.stop_error:  # stopped by the server itself (a shutdown), not by a user
            values.update(state=FAILED, error=ctx.stop_error)
    refused = values.pop("refused", False)
    values["duration_ms"] = int((time.monotonic() - started) * 1000)
    values["ended_on"] = now_ms()
    run = _record(ctx.store, args["runId"], values)
    if values["state"] == ABORTED:
        raise TaskAborted(ctx.task_id)
    if values["state"] == FAILED:
        raise (InputRefused if refused else OperationError)(values["error"])
    if run is None:  # the notebook was deleted while its cell ran
        raise OperationError("The SQL notebook was deleted while the cell ran")
    return {**run_item(run), "rows": values["rows"]}


def _execute(databases: Databases, args: dict[str, Any], canceller: Canceller) -> dict[str, Any]:
    """Run the query; the run's outcome as column values."""
    run_id = args["runId"]

    def on_session(session: dict[str, Any]) -> None:
        _record(databases.store, run_id, {"database_session": session}, read_back=False)

    try:
        spec = databases.spec(args["connection"])
        result = run_query(
            databases.engine_for(spec),
            spec.type,
            args["sql"],
            max_rows=int(args["maxRows"]),
            max_bytes=int(args.get("maxBytes", 10_000_000)),
            canceller=canceller,
            password=spec.password,
            session_name=SESSION_PREFIX + run_id,
            on_session=on_session,
        )
    except QueryCancelled:
        return {"state": ABORTED}
    except QueryRefused as exc:
        return {"state": FAILED, "error": f"Refused SQL: {exc}", "refused": True}
    except QueryFailed as exc:
        return {"state": FAILED, "error": str(exc)}
    except LabkeeperError as exc:  # the connection was deleted, or its password is unreadable
        return {"state": FAILED, "error": exc.message}
    return {
        "state": DONE,
        "row_count": result.row_count,
        "row_count_is_lower_bound": result.row_count_is_lower_bound,
        "has_result_set": result.has_result_set,
        "columns": result.columns,
        "rows": result.rows,
        "rows_kept": len(result.rows),
    }
