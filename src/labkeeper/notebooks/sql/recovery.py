"""After a restart: stop the queries of SQL cell runs a dead server left running, and
complete their records.

A run recorded RUNNING whose future has ended (the futures recovery has just failed the
tasks of dead server processes) or that never got a future within a minute was left by a
dead process. On PostgreSQL its backend, recorded when the query started (pid,
`application_name`, start time), is terminated: matching all three, so a backend that
reuses the pid is never hit. The run becomes FAILED with an end time, a duration
and an error saying why.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select, update

from labkeeper.connections.documents import POSTGRESQL
from labkeeper.connections.engines import Databases
from labkeeper.db import Store, now_ms
from labkeeper.futures.models import RUNNING as TASK_RUNNING
from labkeeper.futures.models import Task
from labkeeper.notebooks.sql.models import FAILED, RUNNING, SqlQueryRun

log = logging.getLogger("labkeeper.sql-notebooks")
INTERRUPTED = "Interrupted by a restart of the server: the query was stopped"
UNATTACHED_MS = 60_000


def stop_leftover_runs(store: Store, databases: Databases) -> int:
    """Stop and complete every run a dead server left RUNNING; how many."""
    with store.read() as s:
        runs = s.execute(
            select(
                SqlQueryRun.id,
                SqlQueryRun.job_id,
                SqlQueryRun.connection,
                SqlQueryRun.run_on,
                SqlQueryRun.database_session,
            ).where(SqlQueryRun.state == RUNNING)
        ).all()
        jobs = [run.job_id for run in runs if run.job_id]
        live = set(s.scalars(select(Task.id).where(Task.id.in_(jobs), Task.state == TASK_RUNNING)))
    now = now_ms()
    stale = [
        run
        for run in runs
        if (run.job_id and run.job_id not in live) or (not run.job_id and now - run.run_on > UNATTACHED_MS)
    ]
    for run in stale:
        stopped = _stop_query(databases, run.connection, run.database_session or {})
        ended = now_ms()
        with store.begin() as s:
            s.execute(
                update(SqlQueryRun)
                .where(SqlQueryRun.id == run.id, SqlQueryRun.state == RUNNING)
                .values(
                    state=FAILED, error=INTERRUPTED, ended_on=ended, duration_ms=max(0, ended - run.run_on)
                )
            )
        log.warning("run %s of a SQL cell was left by a dead server; stopped its query: %s", run.id, stopped)
    return len(stale)


def _stop_query(databases: Databases, connection: str, session: dict[str, Any]) -> bool:
    pid, name = int(session.get("backendPid") or 0), str(session.get("applicationName") or "")
    started = str(session.get("backendStart") or "")
    if not pid or not started:
        return False  # SQLite (the query died with its process), or it never started
    try:
        spec = databases.spec(connection)
        if spec.type != POSTGRESQL:
            return False
        with databases.engine_for(spec).connect() as conn:
            stopped = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE pid = :pid AND application_name = :name AND backend_start::text = :started"
                ),
                {"pid": pid, "name": name, "started": started},
            ).scalar()
            conn.commit()
        return bool(stopped)
    except Exception:  # noqa: BLE001 - the database may be gone; the record is completed anyway
        log.exception("could not stop the query of backend %s on connection %s", pid, connection)
        return False
